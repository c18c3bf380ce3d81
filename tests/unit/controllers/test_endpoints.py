"""Endpoints from pods: addresses, ports by name, hostnames, repacking, truncation; the shared helpers."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers import endpointutil as eu
from kubeling.controllers.endpoints import build_subsets, desired_labels, truncate

Obj = dict[str, Any]


def make_service(ports: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ports": ports or [], **spec},
    }


def make_pod(
    name: str,
    ip: str | None = "10.0.0.1",
    *,
    ready: bool = True,
    phase: str = "Running",
    ports: list[Obj] | None = None,
    deleting: bool = False,
    **spec: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
    containers = [{"name": "c", "ports": ports or []}]
    return {"metadata": meta, "spec": {"nodeName": "n1", "containers": containers, **spec}, "status": status}


HTTP = {"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}
NUMBERED = {"name": "metrics", "port": 9090, "targetPort": 9100, "protocol": "TCP"}
WEB_PORT = [{"name": "web", "containerPort": 8080, "protocol": "TCP"}]


def ref(name: str) -> Obj:
    return {"kind": "Pod", "namespace": "ns", "name": name, "uid": f"uid-{name}"}


def test_ready_and_not_ready_pods_with_named_ports() -> None:
    pods = [
        make_pod("b", "10.0.0.2", ports=WEB_PORT),
        make_pod("a", "10.0.0.1", ports=WEB_PORT),
        make_pod("slow", "10.0.0.3", ready=False, ports=WEB_PORT),
    ]
    assert build_subsets(make_service([HTTP]), pods) == [
        {
            "addresses": [
                {"ip": "10.0.0.1", "targetRef": ref("a"), "nodeName": "n1"},
                {"ip": "10.0.0.2", "targetRef": ref("b"), "nodeName": "n1"},
            ],
            "notReadyAddresses": [{"ip": "10.0.0.3", "targetRef": ref("slow"), "nodeName": "n1"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]


def test_subsets_are_repacked_by_port_set() -> None:
    # "plain" has no port named "web": it serves only the numbered port, so it gets a subset of its own.
    pods = [make_pod("full", "10.0.0.1", ports=WEB_PORT), make_pod("plain", "10.0.0.2")]
    subsets = build_subsets(make_service([HTTP, NUMBERED]), pods)
    assert [([a["ip"] for a in s["addresses"]], [p["port"] for p in s["ports"]]) for s in subsets] == [
        (["10.0.0.1"], [8080, 9100]),
        (["10.0.0.2"], [9100]),
    ]


@pytest.mark.parametrize(
    "pod",
    [
        make_pod("done", phase="Succeeded"),
        make_pod("failed", phase="Failed"),
        make_pod("no-ip", ip=None),
        make_pod("leaving", deleting=True),
    ],
    ids=["succeeded", "failed", "no-ip", "terminating"],
)
def test_pods_left_out(pod: Obj) -> None:
    assert build_subsets(make_service([NUMBERED]), [pod]) == []


def test_publish_not_ready_addresses_and_hostnames() -> None:
    service = make_service([NUMBERED], publishNotReadyAddresses=True)
    pod = make_pod("db-0", ready=False, hostname="db-0", subdomain="web")
    other = make_pod("x", "10.0.0.9", ready=False, hostname="x", subdomain="elsewhere")
    (subset,) = build_subsets(service, [pod, other])
    assert "notReadyAddresses" not in subset
    assert [(a["ip"], a.get("hostname")) for a in subset["addresses"]] == [
        ("10.0.0.1", "db-0"),
        ("10.0.0.9", None),
    ]


def test_headless_service_without_ports_lists_addresses() -> None:
    headless = make_service([], clusterIP="None")
    assert build_subsets(headless, [make_pod("a")]) == [
        {"addresses": [{"ip": "10.0.0.1", "targetRef": ref("a"), "nodeName": "n1"}]}
    ]
    assert build_subsets(make_service([]), [make_pod("a")]) == []  # not headless: nothing without ports
    assert desired_labels(headless) == {"app": "web", eu.HEADLESS_LABEL: ""}


def test_ipv6_service_uses_the_pods_ipv6_address() -> None:
    pod = make_pod("dual", "10.0.0.1")
    pod["status"]["podIPs"].append({"ip": "fd00::1"})
    (subset,) = build_subsets(make_service([NUMBERED], ipFamilies=["IPv6"]), [pod])
    assert subset["addresses"][0]["ip"] == "fd00::1"


def test_truncate_keeps_ready_first() -> None:
    subsets = [
        {"addresses": [{"ip": "a"}, {"ip": "b"}], "notReadyAddresses": [{"ip": "c"}], "ports": []},
        {"addresses": [{"ip": "d"}], "ports": []},
    ]
    assert truncate(subsets, 3) == [
        {"addresses": [{"ip": "a"}, {"ip": "b"}], "ports": []},
        {"addresses": [{"ip": "d"}], "ports": []},
    ]


@pytest.mark.parametrize(
    ("service_port", "expected"),
    [
        ({"port": 80}, 80),
        ({"port": 80, "targetPort": 8080}, 8080),
        ({"port": 80, "targetPort": "web"}, 8080),
        ({"port": 80, "targetPort": "web", "protocol": "UDP"}, None),
        ({"port": 80, "targetPort": "missing"}, None),
    ],
    ids=["defaults-to-port", "number", "name", "name-wrong-protocol", "unknown-name"],
)
def test_find_port(service_port: Obj, expected: int | None) -> None:
    assert eu.find_port(make_pod("p", ports=WEB_PORT), service_port) == expected


def test_trigger_time_is_the_latest_change() -> None:
    service = make_service([])
    service["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    pod = make_pod("p")
    pod["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-02T00:00:00Z"
    assert eu.trigger_time(service, [pod]) == "2026-01-02T00:00:00Z"
    assert eu.trigger_time(service, []) == "2026-01-01T00:00:00Z"
