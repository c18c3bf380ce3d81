"""Which Ingresses are ours, and Service backends resolved to ready endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.ingress.backends import Balancer, Upstream, ready_upstreams
from kubeling.ingress.classes import class_filter
from kubeling.ingress.status import load_balancer_entries, pod_host_addresses, service_addresses

CONTROLLER = "kubeling.io/ingress-controller"


def ingress_class(name: str, controller: str = CONTROLLER, default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"metadata": meta, "spec": {"controller": controller}}


def ingress(class_name: str | None = None, annotation: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "i", "namespace": "default"}
    if annotation:
        meta["annotations"] = {"kubernetes.io/ingress.class": annotation}
    return {"metadata": meta, "spec": {"ingressClassName": class_name} if class_name else {}}


@pytest.mark.parametrize(
    ("classes", "obj", "owned"),
    [
        ([ingress_class("kubeling")], ingress("kubeling"), True),
        ([ingress_class("kubeling")], ingress("nginx"), False),
        ([ingress_class("kubeling"), ingress_class("nginx", "k8s.io/nginx")], ingress("nginx"), False),
        ([ingress_class("kubeling")], ingress(), False),
        ([ingress_class("kubeling", default=True)], ingress(), True),
        ([ingress_class("kubeling", default=True)], ingress("other"), False),
        ([ingress_class("kubeling")], ingress(annotation="kubeling"), True),
        ([ingress_class("kubeling", default=True)], ingress(annotation="nginx"), False),
        ([], ingress("kubeling"), False),
    ],
    ids=[
        "named", "other-name", "other-controller", "unclassed", "unclassed-default",
        "default-but-named-other", "annotation", "annotation-other", "no-class-object",
    ],
)  # fmt: skip
def test_class_filter(classes: list[dict[str, Any]], obj: dict[str, Any], owned: bool) -> None:
    owns = class_filter(classes, controller_class=CONTROLLER, annotation_class="kubeling").owns
    assert owns(obj) is owned


SERVICE = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "admin", "port": 9000, "protocol": "TCP"},
        ]
    },
}
SLICES = [
    {
        "metadata": {"name": "web-a", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "admin", "port": 9001}],
        "endpoints": [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.3"]},  # ready unset means ready
        ],
    }
]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        (80, (Upstream("10.0.0.1", 8080), Upstream("10.0.0.3", 8080))),
        ("http", (Upstream("10.0.0.1", 8080), Upstream("10.0.0.3", 8080))),
        ("admin", (Upstream("10.0.0.1", 9001), Upstream("10.0.0.3", 9001))),
        (81, ()),
        ("nope", ()),
    ],
)
def test_ready_upstreams(port: int | str, expected: tuple[Upstream, ...]) -> None:
    assert ready_upstreams(SERVICE, SLICES, port) == expected


def test_no_service_or_external_name_gives_nothing() -> None:
    assert ready_upstreams(None, SLICES, 80) == ()
    external = {"metadata": {"name": "web"}, "spec": {"type": "ExternalName", "externalName": "x.test"}}
    assert ready_upstreams(external, SLICES, 80) == ()


def test_round_robin_rotates_and_lists_the_rest_for_retries() -> None:
    balancer = Balancer()
    upstreams = (Upstream("a", 1), Upstream("b", 1), Upstream("c", 1))
    firsts = [balancer.order(("ns", "s", 80), upstreams)[0].host for _ in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]
    assert balancer.order(("ns", "s", 80), upstreams) == [upstreams[0], upstreams[1], upstreams[2]]
    assert balancer.order(("ns", "s", 80), ()) == []


def test_status_addresses() -> None:
    assert load_balancer_entries(["10.0.0.2", "lb.test", "10.0.0.1", "10.0.0.2"]) == [
        {"ip": "10.0.0.1"},
        {"ip": "10.0.0.2"},
        {"hostname": "lb.test"},
    ]
    pods = [
        {"status": {"phase": "Running", "hostIP": "10.1.0.2"}},
        {"status": {"phase": "Pending", "hostIP": "10.1.0.3"}},
        {"status": {"phase": "Running", "hostIP": "10.1.0.1"}},
    ]
    assert pod_host_addresses(pods) == ["10.1.0.1", "10.1.0.2"]
    assert service_addresses({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}) == ["1.2.3.4"]
    assert service_addresses({"spec": {"externalIPs": ["5.6.7.8"]}, "status": {}}) == ["5.6.7.8"]
