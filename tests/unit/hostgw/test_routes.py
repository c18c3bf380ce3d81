from __future__ import annotations

from kubeling.hostgw.agent import forward_rules
from kubeling.hostgw.routes import Plan, desired_routes, parse_routes, plan


def _node(name: str, ip: str = "", cidr: str = "", cidrs: list[str] | None = None) -> dict:
    spec: dict = {}
    if cidr:
        spec["podCIDR"] = cidr
    if cidrs:
        spec["podCIDRs"] = cidrs
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.append({"type": "InternalIP", "address": ip})
    return {"metadata": {"name": name}, "spec": spec, "status": {"addresses": addresses}}


def test_every_other_node_with_an_ip_and_a_cidr_gets_a_route() -> None:
    nodes = [
        _node("a", "10.0.0.1", "10.244.0.0/24"),
        _node("b", "10.0.0.2", "10.244.1.0/24"),
        _node("c", "10.0.0.3"),  # no podCIDR yet
        _node("d", "", "10.244.3.0/24"),  # no address yet
        _node("e", "10.0.0.5", cidrs=["10.244.5.0/24", "fd00:5::/64"]),  # IPv4 member only
    ]
    assert desired_routes(nodes, "a") == {"10.244.1.0/24": "10.0.0.2", "10.244.5.0/24": "10.0.0.5"}


def test_parse_ip_route_output() -> None:
    output = (
        "10.244.1.0/24 via 10.0.0.2 dev eth0 proto 77\n"
        "10.244.2.0/24 via 10.0.0.3 dev eth0 proto 77 onlink\n"
        "blackhole 10.9.0.0/24 proto 77\n"
    )
    assert parse_routes(output) == {"10.244.1.0/24": "10.0.0.2", "10.244.2.0/24": "10.0.0.3"}


def test_plan_replaces_changed_and_deletes_gone() -> None:
    current = {"10.244.1.0/24": "10.0.0.2", "10.244.2.0/24": "10.0.0.3", "10.244.9.0/24": "10.0.0.9"}
    desired = {"10.244.1.0/24": "10.0.0.2", "10.244.2.0/24": "10.0.0.30", "10.244.4.0/24": "10.0.0.4"}
    assert plan(current, desired) == Plan(
        replace={"10.244.2.0/24": "10.0.0.30", "10.244.4.0/24": "10.0.0.4"}, delete=["10.244.9.0/24"]
    )
    assert not plan(desired, desired)


def test_forward_rules_accept_the_pod_network_both_ways() -> None:
    rules = [" ".join(r) for r in forward_rules("10.244.0.0/16")]
    assert rules[0].startswith("KUBELING-HOSTGW -s 10.244.0.0/16") and rules[0].endswith("-j ACCEPT")
    assert rules[1].startswith("KUBELING-HOSTGW -d 10.244.0.0/16")
