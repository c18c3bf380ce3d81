"""The pod garbage collector's choices: which terminated, orphaned and terminating pods go."""

from __future__ import annotations

from typing import Any

from kubeling.controllers.podgc import (
    missing_nodes,
    out_of_service,
    terminated_to_delete,
    terminating_out_of_service,
    unscheduled_terminating,
)

Obj = dict[str, Any]


def make_pod(
    name: str,
    *,
    phase: str = "Running",
    created: int = 0,
    node: str = "",
    deleting: bool = False,
    reason: str = "",
) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "creationTimestamp": f"2026-01-01T00:00:{created:02d}Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    status: Obj = {"phase": phase}
    if reason:
        status["reason"] = reason
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def make_node(name: str, *, ready: bool = True, taints: list[str] | None = None) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {"taints": [{"key": k, "effect": "NoExecute"} for k in taints or []]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_terminated_over_threshold_evicted_first_then_oldest() -> None:
    pods = [
        make_pod("new", phase="Succeeded", created=30),
        make_pod("old", phase="Failed", created=10),
        make_pod("evicted", phase="Failed", created=40, reason="Evicted"),
        make_pod("mid", phase="Succeeded", created=20),
        make_pod("running", created=1),
    ]
    assert names(terminated_to_delete(pods, 2)) == ["evicted", "old"]
    assert terminated_to_delete(pods, 4) == []
    assert terminated_to_delete(pods, 0) == []  # 0 turns it off, as upstream


def test_unscheduled_terminating() -> None:
    pods = [make_pod("a", deleting=True), make_pod("b", deleting=True, node="n1"), make_pod("c")]
    assert names(unscheduled_terminating(pods)) == ["a"]


def test_out_of_service_needs_the_taint_and_not_ready() -> None:
    assert out_of_service(make_node("n", ready=False, taints=["node.kubernetes.io/out-of-service"]))
    assert not out_of_service(make_node("n", ready=True, taints=["node.kubernetes.io/out-of-service"]))
    assert not out_of_service(make_node("n", ready=False))
    nodes = {
        "n1": make_node("n1", ready=False, taints=["node.kubernetes.io/out-of-service"]),
        "n2": make_node("n2"),
    }
    pods = [
        make_pod("a", node="n1", deleting=True),
        make_pod("b", node="n1"),
        make_pod("c", node="n2", deleting=True),
    ]
    assert names(terminating_out_of_service(pods, nodes)) == ["a"]


def test_missing_nodes() -> None:
    pods = [make_pod("a", node="gone"), make_pod("b", node="here"), make_pod("c")]
    assert missing_nodes(pods, {"here": make_node("here")}) == {"gone"}
