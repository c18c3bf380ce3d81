"""The kubelet: one node's agent.

Today it holds the hollow runtime (``hollow.py``): a Node, its Lease and pod
statuses without containers, so the control loops can be tested at scale.
The Docker runtime comes with the kubelet issue.
"""
