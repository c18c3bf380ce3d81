"""The scheduling queue with a hand-driven clock."""

from __future__ import annotations

import pytest

from kubeling.scheduler import queue as q
from tests.unit.scheduler.conftest import make_pod


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_queue(clock: Clock) -> q.SchedulingQueue:
    return q.SchedulingQueue(priority_of=lambda pod: int(pod["spec"].get("priority") or 0), clock=clock)


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 0.0), (1, 1.0), (2, 2.0), (4, 8.0), (5, 10.0), (9, 10.0)]
)
def test_backoff_duration(attempts: int, seconds: float) -> None:
    assert q.backoff_duration(attempts) == seconds


async def test_priority_then_age() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(make_pod("old-low", priority=1))
    clock.now += 1
    queue.add(make_pod("high", priority=10))
    clock.now += 1
    queue.add(make_pod("new-low", priority=1))
    names = [(await queue.pop()).pod["metadata"]["name"] for _ in range(3)]
    assert names == ["high", "old-low", "new-low"]


async def test_unschedulable_pods_wait_for_an_event_that_helps() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(make_pod("p"))
    info = await queue.pop()
    info.unschedulable_plugins = {"NodeResourcesFit"}
    queue.add_unschedulable(info, cycle=queue.scheduling_cycle)
    assert queue.counts() == {"active": 0, "backoff": 0, "unschedulable": 1}
    assert queue.move_on_event(q.ASSIGNED_POD_ADD) == 0  # a new pod never frees resources
    clock.now += 5  # backoff (1 s) is over
    assert queue.move_on_event(q.NODE_ADD) == 1
    assert queue.counts()["active"] == 1
    again = await queue.pop()
    assert again is info and again.attempts == 2


async def test_event_during_cycle_sends_failure_to_backoff() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(make_pod("p"))
    info = await queue.pop()
    cycle = queue.scheduling_cycle
    queue.move_on_event(q.NODE_ADD)  # arrives while the pod is being scheduled
    queue.add_unschedulable(info, cycle)
    assert queue.counts() == {"active": 0, "backoff": 1, "unschedulable": 0}
    queue.flush_backoff()
    assert queue.counts()["backoff"] == 1  # still backing off
    clock.now += 1.0
    queue.flush_backoff()
    assert queue.counts()["active"] == 1


async def test_parked_pods_are_retried_after_five_minutes() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(make_pod("p"))
    info = await queue.pop()
    queue.add_unschedulable(info, queue.scheduling_cycle)
    clock.now += 200
    queue.flush_unschedulable()
    assert queue.counts()["unschedulable"] == 1
    clock.now += 101
    queue.flush_unschedulable()
    assert queue.counts()["active"] == 1


async def test_spec_update_requeues_and_delete_forgets() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(make_pod("p"))
    info = await queue.pop()
    queue.add_unschedulable(info, queue.scheduling_cycle)
    status_only = make_pod("p")
    status_only["status"] = {"conditions": [{"type": "PodScheduled", "status": "False"}]}
    queue.update(status_only)
    assert queue.counts()["unschedulable"] == 1
    clock.now += 2
    queue.update(make_pod("p", labels={"tier": "x"}))
    assert queue.counts()["active"] == 1
    queue.delete("default/p")
    assert "default/p" not in queue
    queue.close()
    assert await queue.pop() is None
