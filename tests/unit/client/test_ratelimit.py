"""Rate limiters: exponential per-key backoff, the shared token bucket, max-of."""

from __future__ import annotations

import pytest

from kubeling.client.clock import FakeClock
from kubeling.client.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


@pytest.mark.parametrize(
    ("base", "max_delay", "expected"),
    [
        pytest.param(0.005, 1000.0, [0.005, 0.01, 0.02, 0.04, 0.08], id="upstream-defaults"),
        pytest.param(1.0, 5.0, [1.0, 2.0, 4.0, 5.0, 5.0], id="capped-at-max"),
        pytest.param(0.0, 1.0, [0.0, 0.0, 0.0], id="zero-base"),
    ],
)
def test_exponential_backoff_sequence(base: float, max_delay: float, expected: list[float]) -> None:
    limiter = ItemExponentialFailureRateLimiter(base, max_delay)
    assert [limiter.when("k") for _ in expected] == pytest.approx(expected)
    assert limiter.num_requeues("k") == len(expected)


def test_exponential_backoff_is_per_key_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    assert [limiter.when("a"), limiter.when("a"), limiter.when("b")] == pytest.approx([0.005, 0.01, 0.005])
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.num_requeues("b") == 1
    assert limiter.when("a") == pytest.approx(0.005)


def test_exponential_backoff_never_overflows() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(2000):
        delay = limiter.when("k")
    assert delay == 1000.0


def test_bucket_allows_burst_then_spaces_by_qps() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10, burst=3, clock=clock)
    delays = [limiter.when(str(i)) for i in range(6)]
    assert delays == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_bucket_refills_with_time_up_to_burst() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10, burst=2, clock=clock)
    limiter.when("a")
    limiter.when("b")
    clock._now += 100  # long idle: refills to burst (2), not 1000 tokens
    assert [limiter.when(k) for k in "cde"] == pytest.approx([0, 0, 0.1])
    assert limiter.num_requeues("c") == 0


def test_max_of_takes_longest_delay_and_forgets_everywhere() -> None:
    clock = FakeClock()
    limiter = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(qps=1, burst=1, clock=clock)
    )
    assert limiter.when("k") == pytest.approx(0.005)  # bucket has its token; backoff wins
    assert limiter.when("k") == pytest.approx(1.0)  # bucket empty: waits a second
    assert limiter.num_requeues("k") == 2
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0


def test_default_controller_rate_limiter_matches_upstream() -> None:
    limiter = default_controller_rate_limiter(clock=FakeClock())
    exponential, bucket = limiter.limiters
    assert isinstance(exponential, ItemExponentialFailureRateLimiter)
    assert (exponential.base, exponential.max) == (0.005, 1000.0)
    assert isinstance(bucket, BucketRateLimiter)
    assert (bucket.qps, bucket.burst) == (10.0, 100)
    assert [limiter.when("k") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (1, 0)], ids=["zero-qps", "zero-burst"])
def test_bucket_rejects_nonpositive_settings(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=qps, burst=burst)
