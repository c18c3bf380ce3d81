"""LeaderElector against an in-memory lease store and a fake clock: renewals, step-down, validation."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from kubeling.api.errors import StatusError, conflict, not_found
from kubeling.client.clock import FakeClock, settle
from kubeling.client.leaderelection import LeaderElector


class MemoryLeases:
    """Leases with resourceVersion checks; ``down`` makes every call fail like an unreachable server."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise OSError("connection refused")

    def _store(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[(namespace, obj["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        lease = self.leases.get((namespace, name))
        return copy.deepcopy(lease) if lease else None

    async def create_lease(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if (namespace, obj["metadata"]["name"]) in self.leases:
            raise StatusError(409, "AlreadyExists", "exists")
        return self._store(namespace, obj)

    async def update_lease(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._check()
        name = obj["metadata"]["name"]
        current = self.leases.get((namespace, name))
        if current is None:
            raise not_found("coordination.k8s.io", "leases", name)
        if current["metadata"]["resourceVersion"] != obj["metadata"].get("resourceVersion"):
            raise conflict("coordination.k8s.io", "leases", name, "the object has been modified")
        return self._store(namespace, obj)


async def step_until(clock: FakeClock, predicate: Any, limit: float, step: float = 0.1) -> float:
    waited = 0.0
    while not predicate():
        assert waited < limit, f"not reached within {limit}s of fake time"
        await clock.step(step)
        waited += step
    return waited


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_elector(store: MemoryLeases, clock: FakeClock, identity: str, **callbacks: Any) -> LeaderElector:
    return LeaderElector(
        store,
        "kube-system",
        "kube-scheduler",
        identity,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        clock=clock,
        **callbacks,
    )


async def test_leader_renews_keeping_acquire_time_and_transitions(clock: FakeClock) -> None:
    store = MemoryLeases()
    started = asyncio.Event()

    async def lead() -> None:
        started.set()
        await asyncio.Event().wait()

    elector = make_elector(store, clock, "a", on_started_leading=lead)
    task = asyncio.create_task(elector.run())
    await settle()
    assert started.is_set() and elector.is_leader()
    first = store.leases[("kube-system", "kube-scheduler")]["spec"]
    version = store.version
    await clock.step(2.0)
    await clock.step(2.0)
    assert store.version == version + 2  # renewed every retry_period
    spec = store.leases[("kube-system", "kube-scheduler")]["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["acquireTime"] == first["acquireTime"]
    assert spec["leaseTransitions"] == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    released = store.leases[("kube-system", "kube-scheduler")]["spec"]
    assert (released["holderIdentity"], released["leaseDurationSeconds"], released["leaseTransitions"]) == (
        "",
        1,
        0,
    )


async def test_leader_steps_down_when_renewal_fails_for_renew_deadline(clock: FakeClock) -> None:
    store = MemoryLeases()
    stopped: list[bool] = []
    cancelled = asyncio.Event()

    async def lead() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    elector = make_elector(
        store, clock, "a", on_started_leading=lead, on_stopped_leading=lambda: stopped.append(True)
    )
    task = asyncio.create_task(elector.run())
    await settle()
    assert elector.is_leader()
    store.down = True
    waited = await step_until(clock, task.done, limit=20)
    assert 10.0 <= waited <= 12.5  # gave up after renew_deadline (+ the retry_period sleep before it)
    assert cancelled.is_set()
    assert stopped == [True]
    await task  # returns normally: losing the lease is not an error


async def test_standby_waits_for_lease_expiry_measured_on_its_own_clock(clock: FakeClock) -> None:
    store = MemoryLeases()
    leader = make_elector(store, clock, "a", release_on_cancel=False)
    leaders_seen: list[str] = []
    standby = make_elector(store, clock, "b", on_new_leader=leaders_seen.append)
    leader_task = asyncio.create_task(leader.run())
    await settle()
    standby_task = asyncio.create_task(standby.run())
    await settle()
    assert (leader.is_leader(), standby.is_leader(), standby.get_leader()) == (True, False, "a")
    leader_task.cancel()  # a crash: no release
    await asyncio.gather(leader_task, return_exceptions=True)
    waited = await step_until(clock, standby.is_leader, limit=30)
    assert 15.0 - 4.4 <= waited <= 15.0 + 4.4  # lease_duration, give or take one jittered retry
    assert store.leases[("kube-system", "kube-scheduler")]["spec"]["leaseTransitions"] == 1
    assert leaders_seen == ["a", "b"]
    standby_task.cancel()
    await asyncio.gather(standby_task, return_exceptions=True)


@pytest.mark.parametrize(
    ("lease", "renew", "retry"),
    [
        pytest.param(10, 10, 2, id="lease-not-above-renew"),
        pytest.param(15, 2.4, 2, id="renew-not-above-jittered-retry"),
        pytest.param(15, 10, 0, id="zero-retry"),
    ],
)
def test_invalid_timings_are_rejected(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError):
        LeaderElector(
            MemoryLeases(), "ns", "n", "a", lease_duration=lease, renew_deadline=renew, retry_period=retry
        )
