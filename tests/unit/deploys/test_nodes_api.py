"""What a drain evicts (pure): everything bound to the node except DaemonSet pods, mirror pods
and finished pods."""

from __future__ import annotations

from typing import Any

import pytest
from deploys.tasks.nodes_api import pods_to_evict


def make_pod(name: str, *, owner: str = "", mirror: bool = False, phase: str = "Running") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "x", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    return {"metadata": meta, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("pod", "evicted"),
    [
        (make_pod("web", owner="ReplicaSet"), True),
        (make_pod("bare"), True),
        (make_pod("db", owner="StatefulSet"), True),
        (make_pod("pending", phase="Pending"), True),
        (make_pod("proxy", owner="DaemonSet"), False),
        (make_pod("apiserver", mirror=True), False),
        (make_pod("job", owner="Job", phase="Succeeded"), False),
        (make_pod("crashed", phase="Failed"), False),
    ],
    ids=lambda v: v["metadata"]["name"] if isinstance(v, dict) else str(v),
)
def test_pods_to_evict(pod: dict[str, Any], evicted: bool) -> None:
    assert (pods_to_evict([pod]) == [pod]) is evicted
