"""WorkQueue: dedupe, processing semantics, delays, rate limiting, shutdown — all on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from kubeling.client.clock import FakeClock, settle
from kubeling.client.ratelimit import ItemExponentialFailureRateLimiter
from kubeling.client.workqueue import WorkQueue


def make_queue(clock: FakeClock | None = None) -> WorkQueue[str]:
    return WorkQueue(
        rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1000.0), clock=clock or FakeClock()
    )


async def drain(queue: WorkQueue[str]) -> list[str]:
    """Take every queued key without blocking (and mark each done)."""
    taken = []
    while len(queue):
        key = await queue.get()
        assert key is not None
        taken.append(key)
        queue.done(key)
    return taken


@pytest.mark.parametrize(
    ("adds", "expected"),
    [
        pytest.param(["a", "b", "c"], ["a", "b", "c"], id="fifo"),
        pytest.param(["a", "a", "b", "a"], ["a", "b"], id="dedupe-keeps-first-position"),
        pytest.param([], [], id="empty"),
    ],
)
async def test_add_dedupes_and_keeps_fifo_order(adds: list[str], expected: list[str]) -> None:
    queue = make_queue()
    for key in adds:
        queue.add(key)
    assert len(queue) == len(expected)
    assert await drain(queue) == expected


async def test_key_readded_while_processing_runs_again_after_done() -> None:
    queue = make_queue()
    queue.add("a")
    key = await queue.get()
    assert key == "a"
    queue.add("a")
    assert len(queue) == 0  # not handed to a second worker while the first holds it
    queue.add("a")  # still one pending run
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_key_is_never_worked_by_two_workers_at_once() -> None:
    queue = make_queue()
    active: set[str] = set()
    overlaps: list[str] = []
    runs: list[str] = []

    async def worker() -> None:
        while (key := await queue.get()) is not None:
            if key in active:
                overlaps.append(key)
            active.add(key)
            runs.append(key)
            await asyncio.sleep(0)
            if runs.count(key) < 3:
                queue.add(key)  # re-added while processing: must run again, but not concurrently
            await asyncio.sleep(0)
            active.discard(key)
            queue.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for key in ["x", "y", "x", "y"]:
        queue.add(key)
    await settle(100)
    queue.shut_down()
    await asyncio.wait_for(asyncio.gather(*workers), 1)
    assert overlaps == []
    assert sorted(runs) == ["x", "x", "x", "y", "y", "y"]


async def test_get_blocks_until_add() -> None:
    queue = make_queue()
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()
    queue.add("a")
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_shutdown_unblocks_every_getter_with_none_and_ignores_adds() -> None:
    queue = make_queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await settle()
    queue.shut_down()
    assert await asyncio.wait_for(asyncio.gather(*getters), 1) == [None, None, None]
    queue.add("late")
    assert len(queue) == 0
    assert await queue.get() is None


async def test_shutdown_still_hands_out_queued_keys() -> None:
    queue = make_queue()
    queue.add("a")
    queue.shut_down()
    assert await queue.get() == "a"
    queue.done("a")
    assert await queue.get() is None


async def test_shut_down_with_drain_waits_for_processing_keys() -> None:
    queue = make_queue()
    queue.add("a")
    assert await queue.get() == "a"
    drained = asyncio.create_task(queue.shut_down_with_drain())
    await settle()
    assert not drained.done()
    queue.done("a")
    await asyncio.wait_for(drained, 1)


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    queue = make_queue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("a")
    first.cancel()  # cancelled after being woken, before it ran
    assert await asyncio.wait_for(second, 1) == "a"


@pytest.mark.parametrize(
    ("delays", "expected_order"),
    [
        pytest.param({"a": 3.0, "b": 1.0, "c": 2.0}, ["b", "c", "a"], id="ordered-by-ready-time"),
        pytest.param({"a": 0.0, "b": 1.0}, ["a", "b"], id="zero-delay-is-immediate"),
        pytest.param({"a": -5.0, "b": 1.0}, ["a", "b"], id="negative-delay-is-immediate"),
    ],
)
async def test_add_after_releases_keys_in_ready_order(
    delays: dict[str, float], expected_order: list[str]
) -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    for key, delay in delays.items():
        queue.add_after(key, delay)
    await settle()
    order = await drain(queue)
    for _ in range(4):
        await clock.step(1.0)
        order += await drain(queue)
    assert order == expected_order
    queue.shut_down()


async def test_add_after_not_due_yet_stays_parked() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_after("a", 2.0)
    await settle()
    await clock.step(1.999)
    assert (len(queue), queue.waiting()) == (0, 1)
    await clock.step(0.001)
    assert (len(queue), queue.waiting()) == (1, 0)
    queue.shut_down()


async def test_add_after_twice_keeps_the_earlier_time() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_after("a", 10.0)
    queue.add_after("a", 1.0)
    queue.add_after("a", 5.0)
    await settle()
    assert queue.waiting() == 1
    await clock.step(1.0)
    assert await drain(queue) == ["a"]
    await clock.step(10.0)
    assert len(queue) == 0  # the superseded 10 s entry does not fire again
    queue.shut_down()


async def test_earlier_add_after_wakes_a_sleeping_timer() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_after("late", 100.0)
    await settle()
    queue.add_after("soon", 1.0)
    await settle()
    await clock.step(1.0)
    assert await drain(queue) == ["soon"]
    queue.shut_down()


async def test_add_rate_limited_backs_off_exponentially_and_forget_resets() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    arrivals = []
    for _ in range(4):
        queue.add_rate_limited("k")
        await settle()
        waited = 0.0
        while not len(queue):
            await clock.step(0.005)
            waited += 0.005
        arrivals.append(round(waited, 3))
        await drain(queue)
    assert arrivals == [0.005, 0.01, 0.02, 0.04]
    assert queue.num_requeues("k") == 4
    queue.forget("k")
    assert queue.num_requeues("k") == 0
    queue.shut_down()


async def test_shutdown_drops_parked_keys() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_after("a", 1.0)
    await settle()
    queue.shut_down()
    await clock.step(5.0)
    assert len(queue) == 0
    assert queue.waiting() == 0
    queue.add_after("b", 1.0)
    assert (len(queue), queue.waiting()) == (0, 0)


async def test_is_idle_only_when_nothing_is_queued_worked_or_parked() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    assert queue.is_idle()
    queue.add("a")
    assert not queue.is_idle()  # queued
    key = await queue.get()
    assert not queue.is_idle()  # being worked
    queue.done(key)
    assert queue.is_idle()
    queue.add_after("b", 5)
    assert not queue.is_idle()  # parked for later
    await clock.step(5)
    assert len(queue) == 1 and not queue.is_idle()
    assert await drain(queue) == ["b"]
    assert queue.is_idle()
