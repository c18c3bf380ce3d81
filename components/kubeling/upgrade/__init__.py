"""Cluster upgrades: what runs where (``plan``), upstream's version-skew policy (``skew``), draining
nodes through the eviction API (``drain``) and the ``kubeling upgrade`` commands (``cli``).

The deploy that changes hosts is ``deploys/upgrade.py``; it asks these modules
what to do and whether it may.
"""
