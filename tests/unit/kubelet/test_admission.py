"""Pod admission's predicates, in upstream's order and words."""

from __future__ import annotations

import pytest

from kubeling.kubelet.admission import AdmitResult, Admitter, admit, rejected_status
from tests.unit.kubelet.builders import make_pod


def make_node(*, pods: int = 110, cpu: str = "2", memory: str = "4Gi", labels=None, taints=None) -> dict:
    return {
        "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "node-a", **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)}},
    }


def asking(name: str, **requests: str) -> dict:
    return make_pod(name, containers=[{"name": "c", "image": "busybox", "resources": {"requests": requests}}])


def with_port(name: str, port: int, ip: str = "", protocol: str = "TCP") -> dict:
    spec = {"containerPort": 80, "hostPort": port, "protocol": protocol, **({"hostIP": ip} if ip else {})}
    return make_pod(name, containers=[{"name": "c", "image": "busybox", "ports": [spec]}])


NO_EXECUTE = {"key": "dedicated", "value": "db", "effect": "NoExecute"}


@pytest.mark.parametrize(
    ("pod", "node", "others", "reason", "message"),
    [
        (make_pod("a"), make_node(), [], "", ""),
        (
            make_pod("a"), make_node(pods=2), [make_pod("x"), make_pod("y")], "OutOfpods",
            "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2",
        ),
        (
            asking("a", cpu="1500m"), make_node(), [asking("x", cpu="1")], "OutOfcpu",
            "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000",
        ),
        (
            asking("a", memory="3Gi"), make_node(), [asking("x", memory="2Gi")], "OutOfmemory",
            "Node didn't have enough resource: memory, requested: 3221225472, used: 2147483648, "
            "capacity: 4294967296",
        ),
        (
            make_pod("a", nodeSelector={"disk": "ssd"}), make_node(), [], "NodeAffinity",
            "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
        ),
        (make_pod("a", nodeSelector={"disk": "ssd"}), make_node(labels={"disk": "ssd"}), [], "", ""),
        (
            with_port("a", 8080), make_node(), [with_port("x", 8080, "10.0.0.1")], "NodePorts",
            "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports",
        ),
        (with_port("a", 8080, "10.0.0.2"), make_node(), [with_port("x", 8080, "10.0.0.1")], "", ""),
        (with_port("a", 8080, protocol="UDP"), make_node(), [with_port("x", 8080)], "", ""),
        (
            make_pod("a"), make_node(taints=[NO_EXECUTE]), [], "TaintToleration",
            "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate",
        ),
        (make_pod("a"), make_node(taints=[{**NO_EXECUTE, "effect": "NoSchedule"}]), [], "", ""),
        (
            make_pod("a", tolerations=[{"key": "dedicated", "operator": "Exists"}]),
            make_node(taints=[NO_EXECUTE]), [], "", "",
        ),
    ],
    ids=[
        "fits", "max-pods", "cpu", "memory", "node-selector", "node-selector-met", "host-port-any-ip",
        "host-port-other-ip", "host-port-other-protocol", "no-execute-taint", "no-schedule-ignored",
        "tolerated",
    ],
)  # fmt: skip
def test_admit(pod: dict, node: dict, others: list[dict], reason: str, message: str) -> None:
    result = admit(pod, node, others)
    assert result == (AdmitResult(False, reason, message) if reason else AdmitResult(True))


def test_static_pods_ignore_taints() -> None:
    assert admit(make_pod("a"), make_node(taints=[NO_EXECUTE]), [], static=True).admit


def test_admitter_counts_admitted_active_pods_only() -> None:
    pods = {p["metadata"]["uid"]: p for p in (make_pod("a"), make_pod("b"), make_pod("c"))}
    admitter = Admitter(node=lambda: make_node(pods=2), pod=pods.get, is_static=lambda _: False)
    assert admitter.decide(pods["uid-a"]).admit and admitter.decide(pods["uid-b"]).admit
    assert admitter.decide(pods["uid-c"]).reason == "OutOfpods"
    pods["uid-a"]["status"]["phase"] = "Succeeded"  # finished pods free their place
    assert admitter.decide(pods["uid-c"]).admit
    assert admitter.decide(pods["uid-c"]).admit  # decided once


def test_admitter_without_node_and_extra_handlers() -> None:
    pod = make_pod("a")
    assert Admitter(node=lambda: None, pod=lambda _: pod, is_static=lambda _: False).decide(pod).reason == (
        "InvalidNodeInfo"
    )
    refuse = AdmitResult(False, "Evicted", "The node had condition: [MemoryPressure]. ")
    admitter = Admitter(
        node=make_node, pod=lambda _: pod, is_static=lambda _: False, handlers=[lambda _: refuse]
    )
    assert admitter.decide(pod) == refuse and not admitter.admitted


def test_rejected_status() -> None:
    status = rejected_status(
        make_pod("a"), AdmitResult(False, "OutOfcpu", "Node didn't have enough resource")
    )
    assert status == {
        "phase": "Failed",
        "reason": "OutOfcpu",
        "message": "Pod was rejected: Node didn't have enough resource",
        "qosClass": "BestEffort",
    }
