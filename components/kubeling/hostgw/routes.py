"""What routes a node should have, and what to change to get there (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# Routes hostgw installs carry this protocol number, so it only ever touches its own.
ROUTE_PROTOCOL = "77"


@dataclass(frozen=True)
class Plan:
    replace: dict[str, str]  # podCIDR -> gateway (node IP)
    delete: list[str]

    def __bool__(self) -> bool:
        return bool(self.replace or self.delete)


def internal_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and ":" not in address.get("address", ""):
            return str(address["address"])
    return ""


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
    return [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == 4]


def desired_routes(nodes: Iterable[Obj], self_name: str) -> dict[str, str]:
    """podCIDR -> InternalIP of every other node that has both."""
    routes: dict[str, str] = {}
    for node in nodes:
        if node.get("metadata", {}).get("name") == self_name:
            continue
        gateway = internal_ip(node)
        if gateway:
            for cidr in pod_cidrs(node):
                routes[cidr] = gateway
    return routes


def parse_routes(output: str) -> dict[str, str]:
    """``ip -4 route show proto 77`` lines -> destination -> gateway."""
    routes: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and "via" in parts:
            routes[parts[0]] = parts[parts.index("via") + 1]
    return routes


def plan(current: dict[str, str], desired: dict[str, str]) -> Plan:
    replace = {cidr: gw for cidr, gw in desired.items() if current.get(cidr) != gw}
    delete = sorted(cidr for cidr in current if cidr not in desired)
    return Plan(replace, delete)
