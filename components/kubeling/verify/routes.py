"""Pod routes (host-gw): every node routes each other node's podCIDR via that node's InternalIP.

``pod_networks`` takes them from the API's Node objects; ``missing_routes``
compares them with a host's ``ip -json route show`` — pure, so the route math
is tested without hosts.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class PodNetwork:
    node: str
    cidr: IPNetwork
    node_ip: IPAddress


def pod_networks(nodes: Iterable[dict[str, Any]]) -> list[PodNetwork]:
    """Nodes that have both a podCIDR and an InternalIP (others cannot be routed to yet)."""
    networks = []
    for node in nodes:
        cidr = node.get("spec", {}).get("podCIDR")
        addresses = node.get("status", {}).get("addresses", [])
        ip = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
        if not cidr or not ip:
            continue
        try:
            networks.append(
                PodNetwork(node["metadata"]["name"], ipaddress.ip_network(cidr), ipaddress.ip_address(ip))
            )
        except ValueError:
            continue  # a malformed field: the node-ready check names such nodes
    return networks


def peers_of(networks: Sequence[PodNetwork], *, name: str, addresses: Iterable[str]) -> list[PodNetwork]:
    """The networks a host must route: all but its own (matched by node name or any of its IPs)."""
    own = set()
    for address in addresses:
        try:
            own.add(ipaddress.ip_address(address))
        except ValueError:
            continue  # a DNS name
    return [n for n in networks if n.node != name and n.node_ip not in own]


def parse_routes(ip_json: str) -> dict[IPNetwork, str]:
    """``ip -json route show`` → destination network → gateway ("" for link routes)."""
    try:
        entries = json.loads(ip_json or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"unreadable 'ip -json route' output: {exc}") from None
    routes: dict[IPNetwork, str] = {}
    for entry in entries:
        dst = entry.get("dst", "")
        if dst == "default":
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        routes.setdefault(network, entry.get("gateway", ""))
    return routes


def missing_routes(routes: dict[IPNetwork, str], peers: Iterable[PodNetwork]) -> list[str]:
    """One phrase per peer whose podCIDR is not routed via its node's IP."""
    problems = []
    for peer in peers:
        gateway = routes.get(peer.cidr)
        if gateway is None:
            problems.append(f"no route to {peer.cidr} ({peer.node})")
        elif gateway != str(peer.node_ip):
            via = f"via {gateway}" if gateway else "without a gateway"
            problems.append(f"{peer.cidr} ({peer.node}) routed {via}, want via {peer.node_ip}")
    return problems
