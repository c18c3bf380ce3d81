"""ProxyConfig: kube-proxy's settings, from a KubeProxyConfiguration file and upstream's flags.

Precedence: defaults, then the ``--config`` file
(``kubeproxy.config.k8s.io/v1alpha1``), then flags given on the command line
(the kubeadm DaemonSet passes ``--config`` together with
``--hostname-override=$(NODE_NAME)``).  Only the iptables mode exists here;
fields of other modes (ipvs, nftables, winkernel) and of features not built
(conntrack sysctls, profiling, logging) are accepted and ignored so that
kubeadm-shaped files load; unknown fields are refused.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from kubeling.flags import duration

API_VERSION = "kubeproxy.config.k8s.io/v1alpha1"
KIND = "KubeProxyConfiguration"
MODES = ("iptables",)


class ConfigError(ValueError):
    """The configuration file or a flag value is unusable; the message says which and why."""


@dataclass
class ProxyConfig:
    kubeconfig: str | None = None
    hostname_override: str = ""
    cluster_cidr: str = ""
    proxy_mode: str = "iptables"
    iptables_min_sync_period: float = 1.0
    iptables_sync_period: float = 30.0
    masquerade_all: bool = False
    masquerade_bit: int = 14
    localhost_nodeports: bool = True
    nodeport_addresses: list[str] = field(default_factory=list)
    healthz_bind_address: str = "0.0.0.0:10256"
    metrics_bind_address: str = "127.0.0.1:10249"
    cleanup: bool = False

    @property
    def node_name(self) -> str:
        """upstream: the override, else the host name, lowercased."""
        return (self.hostname_override or socket.gethostname()).strip().lower()

    @property
    def ipv4_cluster_cidr(self) -> str:
        """The IPv4 member of ``clusterCIDR`` (dual-stack lists one per family); "" if none."""
        for cidr in filter(None, (c.strip() for c in self.cluster_cidr.split(","))):
            if ipaddress.ip_network(cidr, strict=False).version == 4:
                return str(ipaddress.ip_network(cidr, strict=False))
        return ""

    @property
    def masquerade_mark(self) -> str:
        """The fwmark bit that asks KUBE-POSTROUTING to masquerade (0x4000 for the default bit 14)."""
        return f"{1 << self.masquerade_bit:#x}"


# Fields of the file that have no effect here (other modes, tuning of parts not built).
_IGNORED = frozenset(
    {
        "bindAddress",
        "bindAddressHardFail",
        "configSyncPeriod",
        "conntrack",
        "detectLocal",
        "enableProfiling",
        "featureGates",
        "ipvs",
        "nftables",
        "winkernel",
        "logging",
        "oomScoreAdj",
        "portRange",
        "showHiddenMetricsForVersion",
        "udpIdleTimeout",
        "windowsRunAsService",
    }
)


def _client_connection(value: Any) -> dict[str, Any]:
    kubeconfig = (value or {}).get("kubeconfig") or ""
    return {"kubeconfig": kubeconfig} if kubeconfig else {}


def _iptables(value: Any) -> dict[str, Any]:
    known = {
        "masqueradeAll": ("masquerade_all", bool),
        "masqueradeBit": ("masquerade_bit", int),
        "minSyncPeriod": ("iptables_min_sync_period", duration),
        "syncPeriod": ("iptables_sync_period", duration),
        "localhostNodePorts": ("localhost_nodeports", bool),
    }
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        if key not in known:
            raise ConfigError(f"iptables: unknown or unsupported field {key!r}")
        if item is None:
            continue
        name, convert = known[key]
        out[name] = convert(item)
    return out


def _detect_local_mode(value: Any) -> dict[str, Any]:
    if value not in ("", None, "ClusterCIDR"):
        raise ConfigError(f"detectLocalMode {value!r} is not supported: only ClusterCIDR")
    return {}


# KubeProxyConfiguration field -> converter returning our field values.
_FILE_FIELDS: dict[str, Any] = {
    "clientConnection": _client_connection,
    "hostnameOverride": lambda v: {"hostname_override": str(v or "")},
    "clusterCIDR": lambda v: {"cluster_cidr": str(v or "")},
    "mode": lambda v: {"proxy_mode": str(v or "iptables")},
    "iptables": _iptables,
    # v1alpha1 since 1.29 also has the sync periods at the top level.
    "minSyncPeriod": lambda v: {"iptables_min_sync_period": duration(v)} if v else {},
    "syncPeriod": lambda v: {"iptables_sync_period": duration(v)} if v else {},
    "nodePortAddresses": lambda v: {"nodeport_addresses": [str(a) for a in v or []]},
    "healthzBindAddress": lambda v: {"healthz_bind_address": str(v)} if v else {},
    "metricsBindAddress": lambda v: {"metrics_bind_address": str(v)} if v else {},
    "detectLocalMode": _detect_local_mode,
}


def from_file(path: str | Path) -> dict[str, Any]:
    """Our field values from a KubeProxyConfiguration document."""
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: want a {KIND} object")
    if document.get("kind", KIND) != KIND:
        raise ConfigError(f"{path}: kind must be {KIND}")
    if document.get("apiVersion", API_VERSION) != API_VERSION:
        raise ConfigError(f"{path}: apiVersion must be {API_VERSION}")
    out: dict[str, Any] = {}
    for key, value in document.items():
        if key in ("kind", "apiVersion") or key in _IGNORED:
            continue
        if key not in _FILE_FIELDS:
            raise ConfigError(f"{path}: unknown or unsupported field {key!r}")
        try:
            out.update(_FILE_FIELDS[key](value))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None
    return out


def build(file_values: dict[str, Any], flag_values: dict[str, Any]) -> ProxyConfig:
    """Defaults < file < flags given (a flag value of None means: not given); then validated."""
    known = {f.name for f in fields(ProxyConfig)}
    merged = {**file_values, **{k: v for k, v in flag_values.items() if v is not None and k in known}}
    config = ProxyConfig(**merged)
    validate(config)
    return config


def validate(config: ProxyConfig) -> None:
    if config.proxy_mode not in MODES:
        raise ConfigError(f"proxy mode {config.proxy_mode!r} is not supported: only {', '.join(MODES)}")
    if config.cluster_cidr:
        for cidr in config.cluster_cidr.split(","):
            _network(cidr, "clusterCIDR")
    for cidr in config.nodeport_addresses:
        if cidr != "primary":
            _network(cidr, "nodePortAddresses")
    if not 0 <= config.masquerade_bit <= 31:
        raise ConfigError(f"masqueradeBit {config.masquerade_bit} must be within [0, 31]")
    if config.iptables_min_sync_period < 0 or config.iptables_sync_period <= 0:
        raise ConfigError("syncPeriod must be positive and minSyncPeriod not negative")
    for name, address in (
        ("healthzBindAddress", config.healthz_bind_address),
        ("metricsBindAddress", config.metrics_bind_address),
    ):
        if address:  # empty: that server is off
            split_host_port(address, name)


def _network(cidr: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"{what}: {cidr!r} is not a CIDR") from None


def split_host_port(address: str, what: str = "address") -> tuple[str, int]:
    """``host:port`` (``[::]:port`` for IPv6) → (host, port); an empty host means every address."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what}: {address!r} is not host:port")
    return host.strip("[]") or "0.0.0.0", int(port)
