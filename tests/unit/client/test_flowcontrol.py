"""The token bucket and backoff, driven by a fake clock."""

from __future__ import annotations

import pytest

from kubeling.client.flowcontrol import TokenBucket, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_burst_is_free_then_requests_wait_one_interval_each() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [round(bucket.reserve(), 6) for _ in range(3)] == [0.1, 0.2, 0.3]


def test_tokens_refill_with_time_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=2, burst=4, clock=clock)
    assert all(bucket.try_acquire() for _ in range(4))
    assert not bucket.try_acquire()
    clock.now += 1.0  # two tokens come back
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]
    clock.now += 3600  # never more than the burst
    assert sum(bucket.try_acquire() for _ in range(10)) == 4


async def test_acquire_sleeps_for_its_reservation() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=5, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert [round(s, 6) for s in clock.slept] == [0.2, 0.2]
    assert clock.now == pytest.approx(100.4)


def test_defaults_and_unlimited() -> None:
    bucket = TokenBucket()
    assert (bucket.qps, bucket.burst) == (50.0, 100)
    unlimited = TokenBucket(qps=0, burst=0)
    assert all(unlimited.reserve() == 0.0 for _ in range(1000))


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        pytest.param(0, 1.0, 0.2, id="first-max"),
        pytest.param(0, 0.0, 0.1, id="first-min-half"),
        pytest.param(3, 1.0, 1.6, id="doubles"),
        pytest.param(20, 1.0, 10.0, id="capped"),
        pytest.param(20, 0.0, 5.0, id="capped-min"),
    ],
)
def test_backoff_delay(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, rand=lambda: rand) == pytest.approx(expected)
