"""Eviction thresholds, conditions with grace and transition periods, ranking and messages."""

from __future__ import annotations

import pytest

from kubeling.kubelet.eviction import (
    EvictionConfig,
    EvictionManager,
    Observation,
    Threshold,
    ThresholdError,
    binary_si,
    build_thresholds,
    eviction_message,
    parse_grace_map,
    parse_signal_map,
    rank,
    thresholds_met,
)
from tests.unit.kubelet.builders import make_pod

GI = 2**30


def observations(memory: int = 8 * GI, disk: int = 50 * GI) -> dict[str, Observation]:
    return {
        "memory.available": Observation(memory, 16 * GI),
        "nodefs.available": Observation(disk, 100 * GI),
        "imagefs.available": Observation(disk, 100 * GI),
        "nodefs.inodesFree": Observation(10**6, 2 * 10**6),
        "pid.available": Observation(30000, 32768),
    }


def test_parsing_and_defaults() -> None:
    assert parse_signal_map("memory.available<1Gi, nodefs.available<10%") == {
        "memory.available": "1Gi",
        "nodefs.available": "10%",
    }
    assert parse_grace_map("memory.available=1m30s") == {"memory.available": "1m30s"}
    defaults = {t.signal: t for t in build_thresholds(None, None, None)}
    assert defaults["memory.available"] == Threshold("memory.available", quantity="100Mi")
    assert defaults["nodefs.available"].percentage == pytest.approx(0.10)
    assert defaults["imagefs.available"].percentage == pytest.approx(0.15)
    assert defaults["nodefs.inodesFree"].percentage == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("hard", "soft", "grace", "error"),
    [
        ({"memory.avail": "1Gi"}, None, None, "unknown eviction signal"),
        ({"memory.available": "lots"}, None, None, "not a quantity"),
        ({"memory.available": "150%"}, None, None, "percentage"),
        (None, {"memory.available": "1Gi"}, None, "needs a grace period"),
        (None, None, {"memory.available": 10.0}, "without a soft threshold"),
    ],
    ids=["signal", "quantity", "percentage", "soft-without-grace", "grace-without-soft"],
)
def test_bad_thresholds_are_clear_errors(hard, soft, grace, error) -> None:
    with pytest.raises(ThresholdError, match=error):
        build_thresholds(hard, soft, grace)


def test_thresholds_met() -> None:
    thresholds = build_thresholds(None, None, None)
    assert thresholds_met(thresholds, observations()) == []
    met = thresholds_met(thresholds, observations(memory=50 * 2**20, disk=5 * GI))
    assert {t.signal for t in met} == {"memory.available", "nodefs.available", "imagefs.available"}


def test_ranking_usage_above_requests_then_priority_then_usage() -> None:
    requested = make_pod(
        "requested", containers=[{"name": "c", "resources": {"requests": {"memory": "1Gi"}}}]
    )
    low = make_pod("low", priority=-10)
    big = make_pod("big")
    small = make_pod("small")
    usage = {
        "uid-requested": {"c": GI // 2},
        "uid-low": {"c": 10},
        "uid-big": {"c": 500 * 2**20},
        "uid-small": {"c": 2**20},
    }
    ranked = rank([requested, small, big, low], usage, "memory")
    assert [p["metadata"]["name"] for p in ranked] == ["low", "big", "small", "requested"]


def test_eviction_message_as_upstream_words_it() -> None:
    pod = make_pod(
        "web", containers=[{"name": "c"}, {"name": "d", "resources": {"requests": {"memory": "1Gi"}}}]
    )
    threshold = Threshold("memory.available", quantity="1000Ti")
    message = eviction_message(pod, {"c": 428 * 1024, "d": 2**20}, threshold, Observation(20 * GI, 24 * GI))
    assert message == (
        "The node was low on resource: memory. Threshold quantity: 1000Ti, available: 20Gi. "
        "Container c was using 428Ki, request is 0, has larger consumption of memory. "
    )
    assert binary_si(1536) == "1536" and binary_si(3 * 2**20) == "3Mi"


class FakeKubelet:
    def __init__(self, pods: list[dict]) -> None:
        self.pods = pods
        self.evicted: list[tuple[str, str, int]] = []
        self.now = 0.0
        self.seen = observations()

    async def usage(self, resource: str) -> dict:
        return {p["metadata"]["uid"]: {"c": 2**20} for p in self.pods}

    async def evict(self, pod: dict, message: str, grace: int) -> None:
        self.evicted.append((pod["metadata"]["name"], message, grace))
        self.pods.remove(pod)

    def manager(self, config: EvictionConfig) -> EvictionManager:
        return EvictionManager(
            config,
            measure=lambda: self.seen,
            active_pods=lambda: list(self.pods),
            usage=self.usage,
            evict=self.evict,
            is_static=lambda pod: pod["metadata"]["name"] == "static",
            clock=lambda: self.now,
        )


async def test_hard_threshold_evicts_one_pod_per_round_never_critical_ones() -> None:
    kubelet = FakeKubelet([make_pod("static"), make_pod("critical", priority=2_000_000_000), make_pod("web")])
    manager = kubelet.manager(
        EvictionConfig(hard={"memory.available": "1000Ti"}, pressure_transition_period=30)
    )
    await manager.synchronize()
    assert manager.conditions == {"MemoryPressure"}
    assert [(name, grace) for name, _, grace in kubelet.evicted] == [("web", 1)]
    assert await manager.synchronize() is None  # only critical pods are left
    assert manager.admit(make_pod("new")).message == "The node had condition: [MemoryPressure]. "
    burstable = make_pod("b", containers=[{"name": "c", "resources": {"requests": {"memory": "1Gi"}}}])
    assert manager.admit(burstable).admit
    # The threshold clears: the condition stays up for the transition period, then goes.
    manager.thresholds = build_thresholds(None, None, None)
    kubelet.now = 29.0
    await manager.synchronize()
    assert manager.conditions == {"MemoryPressure"}
    kubelet.now = 31.0
    await manager.synchronize()
    assert manager.conditions == set() and manager.admit(make_pod("new")).admit


async def test_soft_threshold_counts_after_its_grace_period() -> None:
    kubelet = FakeKubelet([make_pod("web", terminationGracePeriodSeconds=60)])
    config = EvictionConfig(
        hard={},
        soft={"memory.available": "1000Ti"},
        soft_grace_period={"memory.available": 10.0},
        max_pod_grace_period=20,
    )
    manager = kubelet.manager(config)
    await manager.synchronize()
    assert manager.conditions == set() and kubelet.evicted == []
    kubelet.now = 10.0
    await manager.synchronize()
    assert manager.conditions == {"MemoryPressure"}
    assert [(name, grace) for name, _, grace in kubelet.evicted] == [("web", 20)]
