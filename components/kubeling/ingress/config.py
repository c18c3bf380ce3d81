"""The configuration of ``kubeling ingress``, bound from its flags (ingress-nginx's names)."""

from __future__ import annotations

from dataclasses import dataclass, field

CONTROLLER_CLASS = "kubeling.io/ingress-controller"


@dataclass
class IngressConfig:
    kubeconfig: str | None = None
    bind_address: str = "0.0.0.0"
    http_port: int = 80
    https_port: int = 443  # 0: no HTTPS listener
    healthz_port: int = 10254  # /healthz and /metrics; 0: none
    controller_class: str = CONTROLLER_CLASS
    ingress_class: str = "kubeling"  # what the kubernetes.io/ingress.class annotation must say
    watch_ingress_without_class: bool = False
    default_ssl_certificate: str = ""  # "namespace/name" of a kubernetes.io/tls Secret
    publish_service: str = ""  # "namespace/name"
    publish_status_address: list[str] = field(default_factory=list)
    update_status: bool = True
    status_update_interval: float = 60.0
    election_id: str = "ingress-controller-leader"
    load_balance: str = "round_robin"  # or "random"
    proxy_connect_timeout: float = 5.0
    proxy_read_timeout: float = 60.0
    sync_period: float = 0.05  # the least time between two routing rebuilds
