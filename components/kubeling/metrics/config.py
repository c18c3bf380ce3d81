"""Everything ``kubeling metrics-server`` is told by its flags (upstream's names and defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
MIN_RESOLUTION = 10.0


@dataclass
class RequestHeaderConfig:
    """How a front proxy (the aggregator) tells who the user is: upstream's --requestheader-* flags."""

    client_ca_file: str = ""
    allowed_names: list[str] = field(default_factory=list)
    username_headers: list[str] = field(default_factory=lambda: ["X-Remote-User"])
    uid_headers: list[str] = field(default_factory=list)
    group_headers: list[str] = field(default_factory=lambda: ["X-Remote-Group"])
    extra_headers_prefix: list[str] = field(default_factory=lambda: ["X-Remote-Extra-"])


@dataclass
class MetricsServerConfig:
    kubeconfig: str = ""
    authentication_kubeconfig: str = ""
    authorization_kubeconfig: str = ""
    bind_address: str = "0.0.0.0"
    secure_port: int = 10250
    cert_dir: str = ""
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    metric_resolution: float = 15.0
    kubelet_preferred_address_types: list[str] = field(
        default_factory=lambda: ["InternalIP", "ExternalIP", "Hostname"]
    )
    kubelet_port: int = 10250
    kubelet_insecure_tls: bool = False
    kubelet_certificate_authority: str = ""
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    kubelet_request_timeout: float = 10.0
    client_ca_file: str = ""
    requestheader: RequestHeaderConfig = field(default_factory=RequestHeaderConfig)
    authorization_always_allow_paths: list[str] = field(
        default_factory=lambda: ["/healthz", "/readyz", "/livez"]
    )
    authentication_cache_ttl: float = 10.0
    authorization_allowed_ttl: float = 10.0
    authorization_denied_ttl: float = 10.0
    # How often the extension-apiserver-authentication ConfigMap is read again.
    authentication_config_refresh: float = 30.0

    def problems(self) -> list[str]:
        """What is wrong with the flags, in upstream's words where it has some."""
        out = []
        if self.metric_resolution < MIN_RESOLUTION:
            out.append("metric-resolution should be a time duration at least 10s")
        unknown = [t for t in self.kubelet_preferred_address_types if t not in ADDRESS_TYPES]
        if unknown:
            out.append(f"kubelet-preferred-address-types: unknown {unknown}; choose from {ADDRESS_TYPES}")
        if not self.kubelet_preferred_address_types:
            out.append("kubelet-preferred-address-types must name at least one type")
        if bool(self.kubelet_client_certificate) != bool(self.kubelet_client_key):
            out.append("kubelet-client-certificate and kubelet-client-key must be given together")
        if self.kubelet_insecure_tls and self.kubelet_certificate_authority:
            out.append("cannot use both kubelet-insecure-tls and kubelet-certificate-authority")
        if bool(self.tls_cert_file) != bool(self.tls_private_key_file):
            out.append("tls-cert-file and tls-private-key-file must be given together")
        if not 0 <= self.secure_port <= 65535 or not 1 <= self.kubelet_port <= 65535:
            out.append("ports must be between 1 and 65535")
        return out
