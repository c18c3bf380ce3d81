"""The configuration of ``kubeling dns``, bound from its flags."""

from __future__ import annotations

from dataclasses import dataclass, field

# CoreDNS's kubernetes plugin answers with TTL 5 by default, but the Corefile
# kubeadm installs says `ttl 30` (kubernetes/kubernetes#76238, to match the old
# kube-dns): a kubeadm cluster answers 30, so that is our default.
CLUSTER_TTL = 30


@dataclass
class DNSConfig:
    kubeconfig: str | None = None
    bind_address: str = "0.0.0.0"
    port: int = 53
    cluster_domain: str = "cluster.local"
    upstream: list[str] = field(default_factory=list)  # "ip" or "ip:port"; empty = resolv_conf's
    resolv_conf: str = "/etc/resolv.conf"
    forward_timeout: float = 2.0
    ttl: int = CLUSTER_TTL
    cache_size: int = 9984  # CoreDNS cache plugin's default capacity
    cache_max_ttl: int = 30  # kubeadm's Corefile: `cache 30`
    health_port: int = 8080
    ready_port: int = 8181
    metrics_port: int = 9153
    health_bind_address: str = ""  # empty = bind_address
    # Seconds of answering after SIGTERM with /ready failing (CoreDNS's health `lameduck`,
    # 5s in kubeadm's Corefile): time for the Service's endpoints to move away first.
    lameduck: float = 5.0
