"""iptables chain names, as upstream's iptables proxier spells them.

Per-service chains carry a hash so their names are stable across restarts and
between nodes: the first 16 characters of the base32 of the SHA-256 of the
service port's name (``ns/svc:port``) and its lower-case protocol, plus
``ip:port`` for an endpoint's chain.
"""

from __future__ import annotations

import base64
import hashlib

# Top-level chains, and which tables they live in.
SERVICES = "KUBE-SERVICES"
EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
NODEPORTS = "KUBE-NODEPORTS"
POSTROUTING = "KUBE-POSTROUTING"
MARK_MASQ = "KUBE-MARK-MASQ"
FORWARD = "KUBE-FORWARD"
PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"

FILTER_CHAINS = (SERVICES, EXTERNAL_SERVICES, FORWARD, NODEPORTS, PROXY_FIREWALL)
NAT_CHAINS = (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)

# Per-service chain prefixes: cluster policy, local policy, external, firewall, endpoint.
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def port_proto_hash(service_port_name: str, protocol: str) -> str:
    return _hash(service_port_name + protocol.lower())


def cluster_policy_chain(service_port_name: str, protocol: str) -> str:
    return "KUBE-SVC-" + port_proto_hash(service_port_name, protocol)


def local_policy_chain(service_port_name: str, protocol: str) -> str:
    return "KUBE-SVL-" + port_proto_hash(service_port_name, protocol)


def external_chain(service_port_name: str, protocol: str) -> str:
    return "KUBE-EXT-" + port_proto_hash(service_port_name, protocol)


def endpoint_chain(service_port_name: str, protocol: str, endpoint: str) -> str:
    return "KUBE-SEP-" + _hash(service_port_name + protocol.lower() + endpoint)


def is_service_chain(name: str) -> bool:
    return name.startswith(SERVICE_CHAIN_PREFIXES)


def is_kube_proxy_chain(name: str) -> bool:
    """Every chain this proxy may have made (what ``--cleanup`` removes)."""
    return is_service_chain(name) or name in FILTER_CHAINS or name in NAT_CHAINS
