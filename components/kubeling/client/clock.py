"""Clocks: the one seam between client machinery and time.

The workqueue, rate limiters, event recorder and leader elector never call
``time`` or ``asyncio.sleep`` directly; they take a :class:`Clock`.  Production
code uses :class:`RealClock` (the event loop's monotonic time).  Tests use
:class:`FakeClock`, whose time moves only when the test calls ``step()``:
sleepers whose deadline has passed are woken in deadline order, so timing
tests are exact and instant.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock for tests: ``now()`` is fixed until ``step()`` moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    def has_sleepers(self) -> bool:
        return any(not future.done() for _, _, future in self._sleepers)

    async def step(self, seconds: float) -> None:
        """Advance time and let every task woken by it run until it blocks again."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        await settle()


async def settle(rounds: int = 20) -> None:
    """Yield to the event loop enough times for woken tasks to reach their next wait."""
    for _ in range(rounds):
        await asyncio.sleep(0)
