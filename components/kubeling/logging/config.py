"""Everything ``kubeling log-collector`` and ``kubeling log-store`` are told by their flags."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeling.metrics.config import RequestHeaderConfig


@dataclass
class CollectorConfig:
    kubeconfig: str = ""
    node_name: str = ""
    container_log_dir: str = "/var/log/containers"
    # Docker's per-container directories: config.v2.json names the node a container belongs to
    docker_containers_dir: str = "/var/lib/docker/containers"
    positions_file: str = "/var/lib/kubeling-log-collector/positions.json"
    scan_interval: float = 1.0
    poll_interval: float = 0.25
    batch_lines: int = 1000
    batch_bytes: int = 1024 * 1024
    # How long a file whose pod the informer does not know waits for its metadata before shipping bare.
    unknown_pod_wait: float = 5.0
    metadata_retention: float = 3600.0
    health_port: int = 10261
    bind_address: str = "0.0.0.0"

    def problems(self) -> list[str]:
        out = []
        if not self.node_name:
            out.append("--node-name (or $NODE_NAME) is required")
        if self.batch_lines < 1 or self.batch_bytes < 1024:
            out.append("--batch-lines must be at least 1 and --batch-bytes at least 1024")
        if self.scan_interval <= 0 or self.poll_interval <= 0:
            out.append("--scan-interval and --poll-interval must be positive")
        return out


@dataclass
class StoreConfig:
    kubeconfig: str = ""
    authentication_kubeconfig: str = ""
    authorization_kubeconfig: str = ""
    database: str = "/var/lib/kubeling-log-store/logs.db"
    retention: float = 7 * 24 * 3600.0  # lines older than this are deleted (0: kept forever)
    bind_address: str = "0.0.0.0"
    secure_port: int = 8443
    cert_dir: str = ""
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    requestheader: RequestHeaderConfig = field(default_factory=RequestHeaderConfig)
    authorization_always_allow_paths: list[str] = field(
        default_factory=lambda: ["/healthz", "/readyz", "/livez"]
    )
    authentication_cache_ttl: float = 10.0
    authorization_allowed_ttl: float = 10.0
    authorization_denied_ttl: float = 10.0
    authentication_config_refresh: float = 30.0

    def problems(self) -> list[str]:
        out = []
        if bool(self.tls_cert_file) != bool(self.tls_private_key_file):
            out.append("tls-cert-file and tls-private-key-file must be given together")
        if not 0 <= self.secure_port <= 65535:
            out.append("--secure-port must be between 0 and 65535")
        if self.retention < 0:
            out.append("--retention must not be negative")
        return out
