"""Cluster DNS (``kubeling dns``): upstream's DNS-based service discovery spec, as CoreDNS serves it."""
