"""KubeletConfig: the kubelet's settings, from a KubeletConfiguration file and upstream's flags.

Precedence as upstream: defaults, then the ``--config`` file
(``kubelet.config.k8s.io/v1beta1`` field names), then flags given on the
command line.  Durations in the file are Go durations ("10s", "1m").
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from kubeling.flags import duration

API_VERSION = "kubelet.config.k8s.io/v1beta1"


@dataclass
class KubeletConfig:
    kubeconfig: str | None = None
    hostname_override: str = ""
    node_ip: str = ""
    pod_manifest_path: str = ""
    root_dir: str = "/var/lib/kubelet"
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    node_labels: dict[str, str] = field(default_factory=dict)
    register_with_taints: list[dict[str, str]] = field(default_factory=list)
    max_pods: int = 110
    pod_infra_container_image: str = ""
    cni_bin_dir: str = "/usr/lib/cni"
    cni_conf_dir: str = "/etc/cni/net.d"
    node_status_update_frequency: float = 10.0
    node_lease_duration_seconds: int = 40
    file_check_frequency: float = 20.0
    resolv_conf: str = "/etc/resolv.conf"
    register_node: bool = True
    address: str = "0.0.0.0"  # the kubelet server (logs, exec, port-forward, stats)
    port: int = 10250  # 0 picks a free port (tests); the Node's daemonEndpoints carry the real one
    enable_server: bool = True
    tls_cert_file: str = ""  # empty: a self-signed pair under <root-dir>/pki
    tls_private_key_file: str = ""
    client_ca_file: str = ""  # verifies client certificates (the apiserver's kubelet client)
    # Node-pressure eviction (kubeling.kubelet.eviction); None: upstream's default hard thresholds.
    eviction_hard: dict[str, str] | None = None
    eviction_soft: dict[str, str] = field(default_factory=dict)
    eviction_soft_grace_period: dict[str, float] = field(default_factory=dict)
    eviction_pressure_transition_period: float = 300.0
    eviction_max_pod_grace_period: int = 0
    eviction_monitoring_interval: float = 10.0  # upstream's housekeeping period (not a flag there)
    enable_debugging_handlers: bool = True  # the server's /logs/ (and exec, logs ... upstream)
    node_log_dir: str = "/var/log"  # what /logs/ serves
    container_log_dir: str = "/var/log/containers"  # <pod>_<namespace>_<container>-<id>.log symlinks
    # Pod traffic leaving this range is masqueraded by the kubelet (upstream's former
    # --non-masquerade-cidr); empty: the CNI bridge masquerades whatever leaves the node's podCIDR.
    non_masquerade_cidr: str = ""
    # A container whose network namespace is this node's, when the kubelet runs in one that is
    # not the host's (several nodes on one machine): hostNetwork pods join it. Empty: the host's.
    node_network_container: str = ""
    # Renew the client certificate through CertificateSigningRequests (kubelet/certrotation.py).
    rotate_certificates: bool = False

    @property
    def node_name(self) -> str:
        """upstream: the override, else the host name, lowercased."""
        return (self.hostname_override or socket.gethostname()).strip().lower()


# KubeletConfiguration field -> (our field, converter)
_FILE_FIELDS: dict[str, tuple[str, Any]] = {
    "staticPodPath": ("pod_manifest_path", str),
    "clusterDNS": ("cluster_dns", list),
    "clusterDomain": ("cluster_domain", str),
    "maxPods": ("max_pods", int),
    "registerWithTaints": ("register_with_taints", list),
    "registerNode": ("register_node", bool),
    "nodeStatusUpdateFrequency": ("node_status_update_frequency", duration),
    "nodeLeaseDurationSeconds": ("node_lease_duration_seconds", int),
    "fileCheckFrequency": ("file_check_frequency", duration),
    "resolvConf": ("resolv_conf", str),
    "podInfraContainerImage": ("pod_infra_container_image", str),  # a flag upstream; accepted here too
    "address": ("address", str),
    "port": ("port", int),
    "tlsCertFile": ("tls_cert_file", str),
    "tlsPrivateKeyFile": ("tls_private_key_file", str),
    "evictionHard": ("eviction_hard", lambda m: {str(k): str(v) for k, v in (m or {}).items()}),
    "evictionSoft": ("eviction_soft", lambda m: {str(k): str(v) for k, v in (m or {}).items()}),
    "evictionSoftGracePeriod": (
        "eviction_soft_grace_period",
        lambda m: {str(k): duration(str(v)) for k, v in (m or {}).items()},
    ),
    "evictionPressureTransitionPeriod": ("eviction_pressure_transition_period", duration),
    "evictionMaxPodGracePeriod": ("eviction_max_pod_grace_period", int),
    "enableDebuggingHandlers": ("enable_debugging_handlers", bool),
    "rotateCertificates": ("rotate_certificates", bool),
    "authentication": ("client_ca_file", lambda a: ((a or {}).get("x509") or {}).get("clientCAFile", "")),
}


class ConfigFileError(ValueError):
    pass


def from_file(path: str | Path) -> dict[str, Any]:
    """Our field values from a KubeletConfiguration document (unknown fields are refused)."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    if document.get("kind", "KubeletConfiguration") != "KubeletConfiguration":
        raise ConfigFileError(f"{path}: kind must be KubeletConfiguration")
    if document.get("apiVersion", API_VERSION) != API_VERSION:
        raise ConfigFileError(f"{path}: apiVersion must be {API_VERSION}")
    out: dict[str, Any] = {}
    for key, value in document.items():
        if key in ("kind", "apiVersion"):
            continue
        if key not in _FILE_FIELDS:
            raise ConfigFileError(f"{path}: unknown or unsupported field {key!r}")
        name, convert = _FILE_FIELDS[key]
        out[name] = convert(value)
    return out


def parse_labels(value: str) -> dict[str, str]:
    """``--node-labels a=b,c=d``."""
    labels = {}
    for item in filter(None, (v.strip() for v in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid label {item!r}: want key=value")
        labels[key] = val
    return labels


def parse_taints(value: str) -> list[dict[str, str]]:
    """``--register-with-taints key=value:Effect,key:Effect``."""
    taints = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        spec, sep, effect = item.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(
                f"invalid taint {item!r}: want key[=value]:NoSchedule|PreferNoSchedule|NoExecute"
            )
        key, _, taint_value = spec.partition("=")
        taint = {"key": key, "effect": effect}
        if taint_value:
            taint["value"] = taint_value
        taints.append(taint)
    return taints


def build(file_values: dict[str, Any], flag_values: dict[str, Any]) -> KubeletConfig:
    """Defaults < file < flags given (a flag value of None means: not given)."""
    known = {f.name for f in fields(KubeletConfig)}
    merged = {**file_values, **{k: v for k, v in flag_values.items() if v is not None and k in known}}
    return KubeletConfig(**merged)
