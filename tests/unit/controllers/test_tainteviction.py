"""The taint-eviction-controller on a fake clock, with cached objects and a fake API."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.client.clock import FakeClock
from kubeling.controllers import nodetaints as nt
from kubeling.controllers.base import ClientSource, ControllerContext, ControllerOptions
from kubeling.controllers.informers import InformerFactory
from kubeling.controllers.manager import enabled_controllers
from kubeling.controllers.tainteviction import TaintEvictionController
from tests.unit.controllers.test_nodelifecycle import FakeAPI, FakeRecorder

Obj = dict[str, Any]
UNREACHABLE = {"key": nt.UNREACHABLE, "effect": "NoExecute"}


def make_controller(clock: FakeClock) -> tuple[TaintEvictionController, FakeAPI, FakeRecorder]:
    api, recorder = FakeAPI(), FakeRecorder()
    ctx = ControllerContext(
        InformerFactory(api),  # type: ignore[arg-type]  # never started: the test fills the stores
        ClientSource(api),  # type: ignore[arg-type]
        options=ControllerOptions(),
        clock=clock,
        recorder_factory=lambda _client, _component: recorder,  # type: ignore[arg-type,return-value]
    )
    return TaintEvictionController(ctx), api, recorder


def node(taints: list[Obj]) -> Obj:
    return {"metadata": {"name": "n1"}, "spec": {"taints": taints}}


def pod(name: str, seconds: int | None = None, *, tolerate: bool = True) -> Obj:
    tolerations = []
    if tolerate:
        toleration: Obj = {"key": nt.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
        if seconds is not None:
            toleration["tolerationSeconds"] = seconds
        tolerations.append(toleration)
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"nodeName": "n1", "tolerations": tolerations},
    }


def deleted(api: FakeAPI) -> list[str]:
    return [w[2]["name"] for w in api.writes if w[0] == "delete"]


async def test_pods_go_when_their_toleration_runs_out() -> None:
    clock = FakeClock()
    controller, api, recorder = make_controller(clock)
    controller.nodes.store.upsert(node([UNREACHABLE]))
    for body in (pod("at-once", tolerate=False), pod("later", 30), pod("forever")):
        controller.pods.store.upsert(body)

    assert await controller.reconcile("ns/at-once") is None
    assert await controller.reconcile("ns/later") == 30
    assert await controller.reconcile("ns/forever") is None
    assert deleted(api) == ["at-once"]
    (patch,) = [w[2] for w in api.writes if w[0] == "patch"]
    assert patch["status"]["conditions"][0]["reason"] == "DeletionByTaintManager"
    assert ("Normal", "TaintManagerEviction", "Marking for deletion Pod ns/at-once") in recorder.events

    await clock.step(20)
    assert await controller.reconcile("ns/later") == pytest.approx(10)  # counted from first sight
    await clock.step(10)
    assert await controller.reconcile("ns/later") is None
    assert deleted(api) == ["at-once", "later"]


async def test_a_lifted_taint_cancels_the_pending_deletion() -> None:
    clock = FakeClock()
    controller, api, recorder = make_controller(clock)
    controller.nodes.store.upsert(node([UNREACHABLE]))
    controller.pods.store.upsert(pod("later", 30))
    assert await controller.reconcile("ns/later") == 30
    controller.nodes.store.upsert(node([]))
    assert await controller.reconcile("ns/later") is None
    assert deleted(api) == []
    assert ("Normal", "TaintManagerEviction", "Cancelling deletion of Pod ns/later") in recorder.events


def test_a_no_execute_change_queues_the_nodes_pods_and_nothing_else_does() -> None:
    controller, _api, _recorder = make_controller(FakeClock())
    controller.pods.store.upsert(pod("a"))
    soft = {"key": "k", "effect": "NoSchedule"}
    controller._node_updated(node([]), node([soft]))
    assert len(controller.queue) == 0
    controller._node_updated(node([soft]), node([soft, UNREACHABLE]))
    assert len(controller.queue) == 1


def test_on_by_default_next_to_node_lifecycle() -> None:
    enabled = enabled_controllers(["*"])
    assert {"node-lifecycle-controller", "taint-eviction-controller"} <= set(enabled)
    assert "taint-eviction-controller" not in enabled_controllers(["*", "-taint-eviction-controller"])
