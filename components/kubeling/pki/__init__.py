"""Certificates and kubeconfigs, made with ``cryptography``."""
