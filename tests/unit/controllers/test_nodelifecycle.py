"""The node lifecycle controller's pure rules: taints by condition, toleration delays, zone states,
marking a silent node Unknown."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.client.clock import FakeClock
from kubeling.controllers import nodetaints as nt
from kubeling.controllers.base import ClientSource, ControllerContext, ControllerOptions
from kubeling.controllers.informers import InformerFactory
from kubeling.controllers.nodelifecycle import NodeLifecycleController, mark_unknown, ready_signature

Obj = dict[str, Any]
T0 = "2026-01-01T00:00:00Z"


def make_node(
    conditions: dict[str, str] | None = None, *, taints: list[Obj] | None = None, **spec: Any
) -> Obj:
    return {
        "metadata": {"name": "n1", "creationTimestamp": T0},
        "spec": {**spec, **({"taints": taints} if taints is not None else {})},
        "status": {
            "conditions": [
                {"type": k, "status": v, "lastHeartbeatTime": T0, "lastTransitionTime": T0}
                for k, v in (conditions or {}).items()
            ]
        },
    }


@pytest.mark.parametrize(
    ("conditions", "spec", "expected"),
    [
        ({"Ready": "True", "MemoryPressure": "False"}, {}, set()),
        ({"Ready": "False"}, {}, {nt.NOT_READY}),
        ({"Ready": "Unknown"}, {}, {nt.UNREACHABLE}),
        (
            {"Ready": "True", "MemoryPressure": "True", "DiskPressure": "True", "PIDPressure": "True"},
            {},
            {nt.MEMORY_PRESSURE, nt.DISK_PRESSURE, nt.PID_PRESSURE},
        ),
        ({"Ready": "True", "NetworkUnavailable": "True"}, {}, {nt.NETWORK_UNAVAILABLE}),
        ({"Ready": "True"}, {"unschedulable": True}, {nt.UNSCHEDULABLE}),
    ],
    ids=["healthy", "not-ready", "unreachable", "pressures", "network", "cordoned"],
)
def test_no_schedule_taints_follow_conditions(
    conditions: dict[str, str], spec: dict[str, Any], expected: set[str]
) -> None:
    assert nt.no_schedule_keys(make_node(conditions, **spec)) == expected


def test_desired_taints_keep_foreign_ones_and_existing_stamps() -> None:
    foreign = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    kept = {"key": nt.UNREACHABLE, "effect": "NoSchedule", "timeAdded": T0}
    stale = {"key": nt.NOT_READY, "effect": "NoExecute", "timeAdded": T0}
    node = make_node(taints=[foreign, kept, stale])
    result = nt.desired_taints(node, {nt.UNREACHABLE}, nt.UNREACHABLE, "NOW")
    assert result == [
        foreign,
        kept,
        {"key": nt.UNREACHABLE, "effect": "NoExecute", "timeAdded": "NOW"},
    ]
    assert nt.desired_taints(make_node(taints=[foreign, kept, stale]), set(), None, "NOW") == [foreign]
    assert nt.same_taints(result, list(reversed(result)))
    assert not nt.same_taints(result, result[:2])


def tol(key: str = "", op: str = "Exists", effect: str = "NoExecute", seconds: int | None = None) -> Obj:
    toleration: Obj = {"key": key, "operator": op, "effect": effect}
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    return toleration


UNREACH = {"key": nt.UNREACHABLE, "effect": "NoExecute"}
NOT_READY = {"key": nt.NOT_READY, "effect": "NoExecute"}


@pytest.mark.parametrize(
    ("tolerations", "taints", "expected"),
    [
        ([], [UNREACH], 0.0),
        ([tol(nt.NOT_READY, seconds=300)], [UNREACH], 0.0),
        ([tol(nt.UNREACHABLE, seconds=30)], [UNREACH], 30.0),
        ([tol(nt.UNREACHABLE)], [UNREACH], None),
        ([tol(nt.UNREACHABLE, seconds=30), tol(nt.NOT_READY, seconds=10)], [UNREACH, NOT_READY], 10.0),
        ([tol(nt.UNREACHABLE, seconds=30)], [UNREACH, NOT_READY], 0.0),
        ([tol(seconds=-5)], [UNREACH], 0.0),
        ([tol()], [UNREACH, NOT_READY], None),
        ([tol(nt.UNREACHABLE, effect="NoSchedule")], [UNREACH], 0.0),
    ],
    ids=[
        "none",
        "other-key",
        "seconds",
        "forever",
        "shortest-of-used",
        "one-untolerated",
        "negative-is-now",
        "wildcard",
        "wrong-effect",
    ],
)
def test_toleration_delay(tolerations: list[Obj], taints: list[Obj], expected: float | None) -> None:
    assert nt.toleration_delay(tolerations, taints) == expected


@pytest.mark.parametrize(
    ("ready", "not_ready", "expected"),
    [
        (3, 0, nt.ZoneState.NORMAL),
        (1, 1, nt.ZoneState.NORMAL),
        (0, 1, nt.ZoneState.FULL_DISRUPTION),
        (1, 2, nt.ZoneState.NORMAL),  # too few to call it partial
        (2, 3, nt.ZoneState.PARTIAL_DISRUPTION),
        (3, 3, nt.ZoneState.NORMAL),
    ],
)
def test_zone_state(ready: int, not_ready: int, expected: nt.ZoneState) -> None:
    assert nt.zone_state(ready, not_ready) is expected


@pytest.mark.parametrize(
    ("state", "size", "expected"),
    [
        (nt.ZoneState.NORMAL, 3, 0.1),
        (nt.ZoneState.FULL_DISRUPTION, 3, 0.1),
        (nt.ZoneState.PARTIAL_DISRUPTION, 10, 0.0),
        (nt.ZoneState.PARTIAL_DISRUPTION, 100, 0.01),
    ],
)
def test_zone_eviction_rate(state: nt.ZoneState, size: int, expected: float) -> None:
    assert (
        nt.zone_eviction_rate(state, size, rate=0.1, secondary_rate=0.01, large_cluster_threshold=50)
        == expected
    )


def test_zone_key() -> None:
    assert nt.zone_of({"metadata": {}}) == ""
    labels = {nt.REGION_LABEL: "r1", nt.ZONE_LABEL: "z1"}
    assert nt.zone_of({"metadata": {"labels": labels}}) == "r1:\x00:z1"


def test_mark_unknown_keeps_heartbeats_and_fills_missing_conditions() -> None:
    node = make_node({"Ready": "True", "MemoryPressure": "False"})
    assert mark_unknown(node, "NOW")
    ready = nt.node_condition(node, "Ready")
    assert ready == {
        "type": "Ready",
        "status": "Unknown",
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
        "lastHeartbeatTime": T0,
        "lastTransitionTime": "NOW",
    }
    disk = nt.node_condition(node, "DiskPressure")
    assert disk is not None and disk["reason"] == "NodeStatusNeverUpdated"
    assert ready_signature(node) == (T0, "NOW", "Unknown")
    assert not mark_unknown(node, "LATER")  # already Unknown: nothing to write


# -- the monitor and the NoExecute tainter, on a fake clock with cached objects and a fake API --------


class FakeAPI:
    """Records writes; answers a node status update with the body (as the server would)."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, Obj]] = []

    async def update(self, resource: Any, body: Obj, **kw: Any) -> Obj:
        self.writes.append(("update", kw.get("subresource") or "", body))
        return body

    async def patch(self, resource: Any, patch: Obj, **kw: Any) -> Obj:
        self.writes.append(("patch", kw.get("subresource") or "", patch))
        return patch

    async def delete(self, resource: Any, **kw: Any) -> Obj:
        self.writes.append(("delete", "", kw))
        return {}


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Obj, type: str, reason: str, message: str) -> None:
        self.events.append((type, reason, message))

    async def close(self) -> None:
        pass


def make_controller(clock: FakeClock, **knobs: Any) -> tuple[NodeLifecycleController, FakeAPI, FakeRecorder]:
    api, recorder = FakeAPI(), FakeRecorder()
    options = ControllerOptions(node_monitor_grace_period=40.0, node_eviction_rate=0.1, **knobs)
    ctx = ControllerContext(
        InformerFactory(api),  # type: ignore[arg-type]  # never started: the test fills the stores
        ClientSource(api),  # type: ignore[arg-type]
        options=options,
        clock=clock,
        recorder_factory=lambda _client, _component: recorder,  # type: ignore[arg-type,return-value]
    )
    return NodeLifecycleController(ctx), api, recorder


def live_node(name: str, zone: str = "z", ready: str = "True") -> Obj:
    node = make_node({"Ready": ready, "MemoryPressure": "False"})
    node["metadata"] = {
        "name": name,
        "uid": f"uid-{name}",
        "creationTimestamp": T0,
        "labels": {nt.ZONE_LABEL: zone},
    }
    return node


def lease(name: str, renew: str) -> Obj:
    return {"metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": {"renewTime": renew}}


async def test_grace_is_measured_on_our_clock_and_leases_count() -> None:
    clock = FakeClock()
    controller, api, recorder = make_controller(clock)
    # Heartbeats from long ago (server time) do not make a node dead at first sight.
    controller.nodes.store.upsert(live_node("silent"))
    controller.nodes.store.upsert(live_node("leased"))
    controller.nodes.store.upsert(live_node("other-zone", zone="y"))  # silent too
    controller.leases.store.upsert(lease("leased", "2026-01-01T00:00:01.000000Z"))
    await controller.monitor()
    assert api.writes == []
    await clock.step(30)
    controller.leases.store.upsert(lease("leased", "2026-01-01T00:00:31.000000Z"))  # renewed
    await controller.monitor()
    await clock.step(11)  # 41 s since "silent" was first seen; 11 s since "leased" renewed
    await controller.monitor()
    marked = {w[2]["metadata"]["name"]: w[2] for w in api.writes if w[1] == "status"}
    assert sorted(marked) == ["other-zone", "silent"]  # "leased" renewed its Lease in time
    assert nt.ready_status(marked["silent"]) == "Unknown"
    assert ("Normal", "NodeNotReady", "Node silent status is now: NodeNotReady") in recorder.events


async def test_no_execute_taints_are_rate_limited_per_zone_and_held_back_when_all_are_down() -> None:
    clock = FakeClock()
    controller, _api, _recorder = make_controller(clock)
    for i in range(6):
        controller.nodes.store.upsert(live_node(f"up-{i}"))
    for i in range(2):
        controller.nodes.store.upsert(live_node(f"down-{i}", ready="False"))
    await controller.monitor()  # 2 of 8 down: a Normal zone at 0.1 nodes/s, burst 1
    controller.taint_pass()
    assert list(controller.no_execute) == ["down-0"]
    await clock.step(5)
    controller.taint_pass()
    assert list(controller.no_execute) == ["down-0"]
    await clock.step(5)
    controller.taint_pass()
    assert controller.no_execute == {"down-0": nt.NOT_READY, "down-1": nt.NOT_READY}
    # Every node down: the controller suspects its own view, drops NoExecute taints and adds none.
    for i in range(6):
        controller.nodes.store.upsert(live_node(f"up-{i}", ready="False"))
    await controller.monitor()
    controller.taint_pass()
    assert controller.master_disruption and controller.no_execute == {}
