"""Configuration of ``kubeling apiserver`` (flags named as upstream's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class APIServerConfig:
    bind_address: str = "0.0.0.0"
    secure_port: int = 6443
    advertise_address: str = ""
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    cert_dir: Path = Path("/var/run/kubernetes")
    storage_backend: str = "etcd3"  # etcd3 | sqlite
    etcd_servers: list[str] = field(default_factory=list)
    etcd_cafile: str = ""
    etcd_certfile: str = ""
    etcd_keyfile: str = ""
    data_dir: Path = Path("/var/lib/kubeling")  # sqlite backend
    token_auth_file: str = ""
    client_ca_file: str = ""
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    service_account_key_files: list[str] = field(default_factory=list)
    service_account_signing_key_file: str = ""
    api_audiences: list[str] = field(default_factory=list)
    authorization_mode: str = "AlwaysAllow"
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    extra_sans: list[str] = field(default_factory=list)
    # Seconds between datastore compactions (upstream's --etcd-compaction-interval); 0 disables.
    etcd_compaction_interval: float = 300.0
    # DefaultTolerationSeconds admission: tolerationSeconds of the NoExecute tolerations pods get.
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    # How the apiserver reaches kubelets (logs, exec, attach, port-forward, nodes/proxy).
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    kubelet_certificate_authority: str = ""
    # Front-proxy (request-header) authentication: who may assert users in headers.
    requestheader_client_ca_file: str = ""
    requestheader_allowed_names: list[str] = field(default_factory=list)
    requestheader_username_headers: list[str] = field(default_factory=list)
    requestheader_group_headers: list[str] = field(default_factory=list)
    requestheader_extra_headers_prefix: list[str] = field(default_factory=list)
    # The aggregator's client identity towards extension apiservers.
    proxy_client_cert_file: str = ""
    proxy_client_key_file: str = ""
    # Proxy to an APIService's endpoints rather than to its Service's clusterIP.
    enable_aggregator_routing: bool = False
    # Seconds between availability checks of every APIService.
    apiservice_resync_interval: float = 30.0
    # Processes serving the port (SO_REUSEPORT); the first is the primary (workers.py).
    workers: int = 1
