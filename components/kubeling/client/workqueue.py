"""The controller workqueue: client-go's rate-limited delaying queue, on asyncio.

Three sets of keys give the guarantees controllers rely on:

- ``queue``: keys waiting for a worker, in FIFO order;
- ``dirty``: keys that need work (everything in ``queue``, plus keys re-added
  while being worked) — ``add`` of a dirty key is a no-op, so bursts of
  events for one object collapse into one sync;
- ``processing``: keys a worker holds between ``get()`` and ``done()``.  A
  processing key is never queued a second time, so two workers never sync
  the same object at once; if it was re-added meanwhile, ``done()`` queues it.

``add_after`` parks keys in a heap ordered by ready time; one timer task
(started lazily, on the running loop) moves them into the queue when due,
keeping the earliest time when a key is parked twice.  ``add_rate_limited``
is ``add_after`` with the delay the rate limiter picks.

``shut_down()`` makes ``add`` a no-op and wakes every blocked ``get()``;
``get()`` keeps handing out keys already queued and returns ``None`` once the
queue is empty.  ``shut_down_with_drain()`` also waits until every key being
processed is ``done()``.

Everything runs on one event loop, so no locks: state changes happen between
awaits.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from kubeling.client.clock import Clock, RealClock
from kubeling.client.ratelimit import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self._clock: Clock = clock or RealClock()
        self._limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(clock=self._clock)
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        # Delaying part: (ready_at, seq, key) heap; _waiting holds each key's current ready time.
        self._heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, float] = {}
        self._seq = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        self._timer_wakeup: asyncio.Event | None = None

    # -- basic queue -----------------------------------------------------

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() will queue it, so it is never worked twice at once
        self._queue.append(key)
        self._wake_one_getter()

    async def get(self) -> K | None:
        """The next key to work on, or None once shut down and empty. Call ``done(key)`` after."""
        while not self._queue and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Pass a wake-up we may have consumed on to another getter.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one_getter()
                raise
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one_getter()
        if not self._processing and self._drained is not None:
            self._drained.set()

    def __len__(self) -> int:
        return len(self._queue)

    def shutting_down(self) -> bool:
        return self._shutting_down

    def shut_down(self) -> None:
        self._shutting_down = True
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._waiting.clear()

    async def shut_down_with_drain(self) -> None:
        """Shut down, then wait until every key handed out has been ``done()``."""
        self._drained = asyncio.Event()
        self.shut_down()
        if self._processing:
            await self._drained.wait()

    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- delaying --------------------------------------------------------

    def add_after(self, key: K, seconds: float) -> None:
        if self._shutting_down:
            return
        if seconds <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + seconds
        current = self._waiting.get(key)
        if current is not None and current <= ready_at:
            return  # already due sooner
        self._waiting[key] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._seq), key))
        self._ensure_timer()
        assert self._timer_wakeup is not None
        self._timer_wakeup.set()

    def _ensure_timer(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer_wakeup = asyncio.Event()
            self._timer = asyncio.get_running_loop().create_task(self._run_timer())

    async def _run_timer(self) -> None:
        assert self._timer_wakeup is not None
        wakeup = self._timer_wakeup
        while not self._shutting_down:
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                ready_at, _, key = heapq.heappop(self._heap)
                # Skip stale entries superseded by an earlier add_after of the same key.
                if self._waiting.get(key) == ready_at:
                    del self._waiting[key]
                    self.add(key)
            wakeup.clear()
            if not self._heap:
                await wakeup.wait()
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep(self._heap[0][0] - now))
            woken = asyncio.ensure_future(wakeup.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()

    def waiting(self) -> int:
        """How many keys are parked by ``add_after`` (for metrics and tests)."""
        return len(self._waiting)

    def is_idle(self) -> bool:
        """Nothing queued, nothing being worked, nothing parked for later."""
        return not self._queue and not self._processing and not self._waiting

    # -- rate limiting ---------------------------------------------------

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Clear the key's failure history (call after a successful sync)."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)
