"""The scheduling queue: activeQ, backoffQ and the unschedulable pods, as upstream's PriorityQueue.

- **activeQ** is a heap: higher ``spec.priority`` first, then the pod that
  entered the queue earlier.  ``pop()`` waits on it.
- **backoffQ** holds pods that failed recently, ordered by when their backoff
  ends (1 s doubled per failed attempt, capped at 10 s); ``flush_backoff``
  moves the due ones to activeQ (the scheduler calls it every second).
- **unschedulable** pods wait for a cluster event that could make them fit.
  ``move_on_event(event)`` moves those whose rejecting plugins care about
  the event (to backoffQ if their backoff is still running, else activeQ);
  ``flush_unschedulable`` moves pods parked longer than 5 minutes anyway.

A pod that failed while an event arrived mid-cycle would miss it, so each
move bumps ``move_request_cycle`` and a failure from an older cycle goes to
backoffQ instead of being parked.

Heaps use lazy deletion: entries carry the pod info object, and an entry is
live only while the key still maps to that very object.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
UNSCHEDULABLE_MAX_DURATION = 300.0

# Cluster events, and which rejecting plugins they may help (upstream's EventsToRegister).
NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_ADD = "AssignedPodAdd"
ASSIGNED_POD_UPDATE = "AssignedPodUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
UNSCHEDULED_POD_UPDATE = "UnscheduledPodUpdate"
NAMESPACE_CHANGE = "NamespaceChange"

_POD_EVENTS = {ASSIGNED_POD_ADD, ASSIGNED_POD_UPDATE, ASSIGNED_POD_DELETE}
PLUGIN_EVENTS: dict[str, set[str]] = {
    "NodeUnschedulable": {NODE_ADD, NODE_UPDATE},
    "NodeName": {NODE_ADD},
    "TaintToleration": {NODE_ADD, NODE_UPDATE},
    "NodeAffinity": {NODE_ADD, NODE_UPDATE},
    "NodePorts": {NODE_ADD, ASSIGNED_POD_DELETE},
    "NodeResourcesFit": {NODE_ADD, NODE_UPDATE, ASSIGNED_POD_DELETE, ASSIGNED_POD_UPDATE},
    "PodTopologySpread": {NODE_ADD, NODE_UPDATE, *_POD_EVENTS},
    "InterPodAffinity": {NODE_ADD, NODE_UPDATE, NAMESPACE_CHANGE, *_POD_EVENTS},
}


class QueuedPodInfo:
    __slots__ = (
        "attempts",
        "backoff_until",
        "initial_attempt",
        "key",
        "pod",
        "priority",
        "timestamp",
        "unschedulable_plugins",
    )

    def __init__(self, pod: Obj, priority: int, now: float) -> None:
        meta = pod["metadata"]
        self.pod = pod
        self.key = f"{meta.get('namespace') or 'default'}/{meta['name']}"
        self.priority = priority
        self.timestamp = now  # when it (re-)entered the queue
        self.initial_attempt = now  # when it first entered: latency is measured from here
        self.attempts = 0
        self.backoff_until = 0.0
        self.unschedulable_plugins: set[str] = set()

    def __repr__(self) -> str:
        return f"QueuedPodInfo({self.key}, priority={self.priority}, attempts={self.attempts})"


def backoff_duration(attempts: int) -> float:
    if attempts <= 0:
        return 0.0
    return min(INITIAL_BACKOFF * (2 ** (attempts - 1)), MAX_BACKOFF)


class SchedulingQueue:
    def __init__(
        self,
        *,
        priority_of: Callable[[Obj], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._priority_of = priority_of
        self._clock = clock
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, QueuedPodInfo]] = []
        self._backoff: list[tuple[float, int, QueuedPodInfo]] = []
        self._where: dict[str, tuple[str, QueuedPodInfo]] = {}  # key -> ("active"|"backoff"|"unsched", info)
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._unschedulable: dict[str, QueuedPodInfo] = {}  # the "unsched" entries, iterated on events
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.scheduling_cycle = 0
        self.move_request_cycle = -1

    # -- adding ------------------------------------------------------------------

    def add(self, pod: Obj) -> None:
        """A new pending pod."""
        info = QueuedPodInfo(pod, self._priority_of(pod), self._clock())
        if info.key in self._where or info.key in self._in_flight:
            self.update(pod)
            return
        self._push_active(info)

    def _push_active(self, info: QueuedPodInfo) -> None:
        self._where[info.key] = ("active", info)
        heapq.heappush(self._active, (-info.priority, info.timestamp, next(self._seq), info))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _push_backoff(self, info: QueuedPodInfo) -> None:
        self._where[info.key] = ("backoff", info)
        heapq.heappush(self._backoff, (info.backoff_until, next(self._seq), info))

    def update(self, pod: Obj) -> None:
        """A pending pod changed: refresh it; an unschedulable one gets another chance."""
        key = f"{pod['metadata'].get('namespace') or 'default'}/{pod['metadata']['name']}"
        flying = self._in_flight.get(key)
        if flying is not None:
            flying.pod = pod
            return
        place = self._where.get(key)
        if place is None:
            self.add(pod)
            return
        where, info = place
        if where == "unsched" and _spec_changed(info.pod, pod):
            info.pod = pod
            info.priority = self._priority_of(pod)
            del self._where[key]
            del self._unschedulable[key]
            self._requeue(info)
        else:
            info.pod = pod

    def delete(self, key: str) -> None:
        self._where.pop(key, None)
        self._unschedulable.pop(key, None)
        self._in_flight.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._where or key in self._in_flight

    # -- popping -----------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule (None once closed)."""
        while True:
            while self._active:
                _, _, _, info = heapq.heappop(self._active)
                place = self._where.get(info.key)
                if place is None or place[1] is not info or place[0] != "active":
                    continue  # stale entry
                del self._where[info.key]
                info.attempts += 1
                self.scheduling_cycle += 1
                self._in_flight[info.key] = info
                return info
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None

    def done(self, key: str) -> None:
        """The cycle for ``key`` ended (scheduled, or requeued by ``add_unschedulable``)."""
        self._in_flight.pop(key, None)

    def close(self) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- failures ----------------------------------------------------------------

    def add_unschedulable(self, info: QueuedPodInfo, cycle: int, *, error: bool = False) -> None:
        """Requeue a pod that failed in cycle ``cycle`` (backoff for errors and missed events)."""
        if self._in_flight.pop(info.key, None) is None and info.key not in self._where:
            return  # deleted meanwhile
        now = self._clock()
        info.timestamp = now
        info.backoff_until = now + backoff_duration(info.attempts)
        if error or self.move_request_cycle >= cycle:
            self._push_backoff(info)
        else:
            self._where[info.key] = ("unsched", info)
            self._unschedulable[info.key] = info

    def _requeue(self, info: QueuedPodInfo) -> None:
        if info.backoff_until > self._clock():
            self._push_backoff(info)
        else:
            self._push_active(info)

    def move_on_event(self, event: str) -> int:
        """Move parked pods that ``event`` may help; returns how many moved."""
        self.move_request_cycle = self.scheduling_cycle
        moved = 0
        if not self._unschedulable:
            return 0
        for key, info in list(self._unschedulable.items()):
            plugins = info.unschedulable_plugins
            if plugins and not any(event in PLUGIN_EVENTS.get(p, ()) for p in plugins):
                continue
            del self._where[key]
            del self._unschedulable[key]
            self._requeue(info)
            moved += 1
        return moved

    def flush_backoff(self) -> None:
        now = self._clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, info = heapq.heappop(self._backoff)
            place = self._where.get(info.key)
            if place is None or place[1] is not info or place[0] != "backoff":
                continue
            self._push_active(info)

    def flush_unschedulable(self) -> None:
        now = self._clock()
        for key, info in list(self._unschedulable.items()):
            if now - info.timestamp > UNSCHEDULABLE_MAX_DURATION:
                del self._where[key]
                del self._unschedulable[key]
                self._requeue(info)

    # -- introspection -----------------------------------------------------------

    def counts(self) -> dict[str, int]:
        result = {"active": 0, "backoff": 0, "unschedulable": 0}
        names = {"active": "active", "backoff": "backoff", "unsched": "unschedulable"}
        for where, _ in self._where.values():
            result[names[where]] += 1
        return result

    def pending(self) -> list[QueuedPodInfo]:
        return [info for _, info in self._where.values()]


def _spec_changed(old: Obj, new: Obj) -> bool:
    # Status-only writes (our own condition updates) must not requeue a pod.
    return old.get("spec") != new.get("spec") or (old.get("metadata") or {}).get("labels") != (
        new.get("metadata") or {}
    ).get("labels")
