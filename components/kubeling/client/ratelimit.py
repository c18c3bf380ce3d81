"""Rate limiters for the workqueue, with upstream client-go's semantics.

A limiter answers one question per requeue: how long should this key wait
before it is worked again?  ``when(key)`` records a failure and returns the
delay; ``forget(key)`` clears the key's history once it succeeds;
``num_requeues(key)`` reports how many failures are on record.

- :class:`ItemExponentialFailureRateLimiter`: per key, ``base * 2**failures``
  capped at ``max`` (5 ms, 10 ms, 20 ms, ... up to 1000 s by default).
- :class:`BucketRateLimiter`: one token bucket shared by every key
  (``qps`` refill, ``burst`` capacity); a key waits for its reserved token.
  It keeps no per-key history, so forget is a no-op.
- :class:`MaxOfRateLimiter`: the longest delay of several limiters.
- :func:`default_controller_rate_limiter`: the max of the two above, as every
  upstream controller uses.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from kubeling.client.clock import Clock, RealClock


class RateLimiter(Protocol):
    def when(self, key: Hashable) -> float:
        """Record a failure of ``key``; return seconds to wait before retrying it."""
        ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    def __init__(self, base: float = 0.005, max: float = 1000.0) -> None:  # upstream's names
        self.base = base
        self.max = max
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        # Past 2**62 the product only grows; cap the exponent so it never overflows a float.
        if exponent > 62:
            return self.max
        return min(self.base * (2**exponent), self.max)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """A token bucket; reservations may drive it negative, so later callers wait longer (like x/time/rate)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock | None = None) -> None:
        if qps <= 0 or burst <= 0:
            raise ValueError("qps and burst must be positive")
        self.qps = qps
        self.burst = burst
        self._clock: Clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, key: Hashable) -> float:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        pass

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        # Every limiter must see the failure (each keeps its own history), so no short-circuit.
        return max([limiter.when(key) for limiter in self.limiters])

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter(*, clock: Clock | None = None) -> MaxOfRateLimiter:
    """Per-key exponential backoff (5 ms .. 1000 s) bounded by an overall 10 qps, burst 100 bucket."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
