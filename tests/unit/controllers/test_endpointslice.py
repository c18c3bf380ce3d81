"""EndpointSlice content and the slice planner: every endpoint in exactly one slice, little churn."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers.endpointslice import (
    CONTROLLER_NAME,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    GroupKey,
    desired_groups,
    desired_labels,
    endpoint_key,
    plan,
)

Obj = dict[str, Any]
HTTP: GroupKey = ("IPv4", (("http", 8080, "TCP", ""),))


def make_service(**spec: Any) -> Obj:
    ports = [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc", "labels": {"team": "a"}},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.1", "ports": ports, **spec},
    }


def make_pod(name: str, ip: str, *, ready: bool = True, deleting: bool = False, named: bool = True) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ports = [{"name": "web", "containerPort": 8080}] if named else []
    return {
        "metadata": meta,
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": ports}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


NODES = {"n1": {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}}}}


def test_endpoint_conditions_zone_and_grouping_by_ports() -> None:
    pods = [
        make_pod("a", "10.0.0.1"),
        make_pod("b", "10.0.0.2", ready=False),
        make_pod("c", "10.0.0.3", deleting=True),
        make_pod("d", "10.0.0.4", named=False),
    ]
    groups = desired_groups(make_service(), pods, NODES)
    assert set(groups) == {HTTP, ("IPv4", ())}
    by_ip = {e["addresses"][0]: e for e in groups[HTTP]}
    assert by_ip["10.0.0.1"] == {
        "addresses": ["10.0.0.1"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"},
        "nodeName": "n1",
        "zone": "z1",
    }
    assert by_ip["10.0.0.2"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert by_ip["10.0.0.3"]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert [e["addresses"] for e in groups[("IPv4", ())]] == [["10.0.0.4"]]


def test_publish_not_ready_makes_everything_ready() -> None:
    groups = desired_groups(
        make_service(publishNotReadyAddresses=True), [make_pod("b", "10.0.0.2", ready=False)], {}
    )
    assert groups[HTTP][0]["conditions"]["ready"] is True


def test_dual_stack_gives_a_group_per_family() -> None:
    pod = make_pod("a", "10.0.0.1")
    pod["status"]["podIPs"].append({"ip": "fd00::1"})
    groups = desired_groups(make_service(ipFamilies=["IPv4", "IPv6"]), [pod], {})
    assert sorted(k[0] for k in groups) == ["IPv4", "IPv6"]


def test_labels() -> None:
    assert desired_labels(make_service(clusterIP="None")) == {
        "team": "a",
        SERVICE_NAME_LABEL: "web",
        MANAGED_BY_LABEL: CONTROLLER_NAME,
        "service.kubernetes.io/headless": "",
    }


def ep(ip: str) -> Obj:
    return {"addresses": [ip], "conditions": {"ready": True}}


def existing_slice(name: str, ips: list[str], group: GroupKey = HTTP) -> Obj:
    ports = [{"name": n, "port": p, "protocol": pr} for n, p, pr, _ in group[1]]
    return {
        "metadata": {"name": name},
        "addressType": group[0],
        "ports": ports,
        "endpoints": [ep(i) for i in ips],
    }


def placement(result: Any, existing: list[Obj]) -> list[str]:
    """Every endpoint address the plan leaves in some slice (created, updated or untouched)."""
    out = [endpoint_key(e) for _, eps in result.create for e in eps]
    out += [endpoint_key(e) for _, eps in result.update for e in eps]
    return sorted(out)


def test_new_service_fills_slices_up_to_the_maximum() -> None:
    desired = {HTTP: [ep(f"10.0.0.{i}") for i in range(1, 6)]}
    result = plan([], desired, "IPv4", 2)
    assert [len(eps) for _, eps in result.create] == [2, 2, 1]
    assert placement(result, []) == sorted(f"10.0.0.{i}" for i in range(1, 6))


def test_changes_touch_as_few_slices_as_possible() -> None:
    slices = [existing_slice("s1", ["10.0.0.1", "10.0.0.2"]), existing_slice("s2", ["10.0.0.3"])]
    desired = {HTTP: [ep("10.0.0.1"), ep("10.0.0.2"), ep("10.0.0.3"), ep("10.0.0.4")]}
    result = plan(slices, desired, "IPv4", 2)
    assert not result.create and not result.delete
    changed = {s["metadata"]["name"]: [endpoint_key(e) for e in eps] for s, eps in result.update}
    assert changed == {"s1": ["10.0.0.1", "10.0.0.2"], "s2": ["10.0.0.3", "10.0.0.4"]}


def test_duplicates_are_dropped_and_empty_slices_deleted() -> None:
    slices = [existing_slice("s1", ["10.0.0.1"]), existing_slice("s2", ["10.0.0.1", "10.0.0.9"])]
    result = plan(slices, {HTTP: [ep("10.0.0.1")]}, "IPv4", 100)
    assert [s["metadata"]["name"] for s in result.delete] == ["s2"]
    assert placement(result, slices) == ["10.0.0.1"]


def test_port_change_moves_endpoints_to_a_new_slice() -> None:
    other: GroupKey = ("IPv4", (("http", 9090, "TCP", ""),))
    result = plan([existing_slice("s1", ["10.0.0.1"])], {other: [ep("10.0.0.1")]}, "IPv4", 100)
    assert [s["metadata"]["name"] for s in result.delete] == ["s1"]
    assert [(g, [endpoint_key(e) for e in eps]) for g, eps in result.create] == [(other, ["10.0.0.1"])]


@pytest.mark.parametrize("existing", [[], [existing_slice("s1", ["10.0.0.1"])]], ids=["none", "one"])
def test_a_service_without_endpoints_keeps_one_placeholder(existing: list[Obj]) -> None:
    result = plan(existing, {}, "IPv4", 100)
    if existing:
        assert not result.delete and [(s["metadata"]["name"], eps) for s, eps in result.update] == [
            ("s1", [])
        ]
    else:
        assert result.create == [(("IPv4", ()), [])]
