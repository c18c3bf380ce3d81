"""Client-side flow control: a token-bucket rate limiter and retry backoff.

The bucket holds up to ``burst`` tokens and refills at ``qps`` per second.
Callers *reserve* a token: when the bucket is empty the count goes negative
and each caller sleeps until its own token would exist.  Reservations are
taken without awaiting, so concurrent tasks on one event loop are served in
arrival order and never oversubscribe the rate.  The clock and the sleep are
injectable, so tests drive time by hand.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    def __init__(
        self,
        *,
        qps: float = 50.0,
        burst: int = 100,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if burst < 1 and qps > 0:
            raise ValueError("burst must be at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def reserve(self) -> float:
        """Take one token; return how long the caller must wait before using it."""
        if self.unlimited:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_acquire(self) -> bool:
        """Take a token only if one is available now."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.2,
    cap: float = 10.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with jitter: ``min(cap, base * 2**attempt)``, scaled into [50%, 100%]."""
    ceiling = min(cap, base * (2**attempt))
    return ceiling * (0.5 + 0.5 * rand())
