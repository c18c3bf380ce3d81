from __future__ import annotations

import ipaddress
import json

import pytest

from kubeling.verify import routes


def _node(name: str, cidr: str | None, ip: str | None) -> dict:
    node: dict = {"metadata": {"name": name}, "spec": {}, "status": {"addresses": []}}
    if cidr:
        node["spec"]["podCIDR"] = cidr
    if ip:
        addresses = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]
        node["status"]["addresses"] = addresses
    return node


NODES = [
    _node("cp1", "10.244.0.0/24", "172.18.0.11"),
    _node("w1", "10.244.1.0/24", "172.18.0.12"),
    _node("w2", "10.244.2.0/24", "172.18.0.13"),
    _node("new", None, "172.18.0.14"),  # no podCIDR yet: nothing to route
]
NETWORKS = routes.pod_networks(NODES)


def test_pod_networks_skip_nodes_without_cidr_or_ip() -> None:
    assert [n.node for n in NETWORKS] == ["cp1", "w1", "w2"]
    assert NETWORKS[1].cidr == ipaddress.ip_network("10.244.1.0/24")


@pytest.mark.parametrize(
    ("name", "addresses", "peers"),
    [
        ("w1", [], ["cp1", "w2"]),
        ("other-name", ["172.18.0.12"], ["cp1", "w2"]),  # own node found by its IP
        ("w1", ["lab-w1.example"], ["cp1", "w2"]),  # DNS names are ignored
    ],
    ids=["by-name", "by-ip", "dns-address"],
)
def test_peers_exclude_the_host_itself(name: str, addresses: list[str], peers: list[str]) -> None:
    assert [p.node for p in routes.peers_of(NETWORKS, name=name, addresses=addresses)] == peers


def _ip_json(*entries: dict) -> str:
    return json.dumps([{"dst": "default", "gateway": "172.18.0.1", "dev": "eth0"}, *entries])


def test_all_routes_present() -> None:
    table = routes.parse_routes(
        _ip_json(
            {"dst": "10.244.0.0/24", "gateway": "172.18.0.11", "dev": "eth0", "protocol": "77"},
            {"dst": "10.244.1.0/24", "dev": "cni0", "scope": "link"},  # own bridge
            {"dst": "10.244.2.0/24", "gateway": "172.18.0.13", "dev": "eth0"},
        )
    )
    assert routes.missing_routes(table, routes.peers_of(NETWORKS, name="w1", addresses=[])) == []


def test_missing_and_wrong_routes_are_named() -> None:
    table = routes.parse_routes(_ip_json({"dst": "10.244.0.0/24", "gateway": "172.18.0.99", "dev": "eth0"}))
    problems = routes.missing_routes(table, routes.peers_of(NETWORKS, name="w1", addresses=[]))
    assert problems == [
        "10.244.0.0/24 (cp1) routed via 172.18.0.99, want via 172.18.0.11",
        "no route to 10.244.2.0/24 (w2)",
    ]


def test_unreadable_route_output() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        routes.parse_routes("Error: ...")
