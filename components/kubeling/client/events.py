"""An Event recorder like client-go's ``record`` package (core/v1 Events).

``recorder.event(obj, type, reason, message)`` never blocks and never fails
the caller: it stamps the Event (involvedObject, source, reporting
component/instance, timestamps) and puts it on a bounded queue (full →
dropped, as upstream; under load that is thousands of Events, so the drops
are logged as one count per ``DROP_LOG_INTERVAL``, not one line each).
One writer task drains the queue in order and, for each Event:

1. correlates it with what it already wrote: an *identical* Event (same
   involvedObject, type, reason and message) seen within ``aggregate_window``
   becomes a PATCH of the first one (``count`` + 1, new ``lastTimestamp``)
   instead of a new object;
2. passes it through the spam filter: a token bucket per involved object
   (burst 25, one token back every 5 minutes) so a hot loop cannot flood
   etcd — over the limit, Events are dropped;
3. writes it through the sink (create, or patch; a patch of an Event that
   was deleted meanwhile falls back to create; network errors are retried a
   few times).

Both caches are LRUs of 4096 keys, as upstream.  Time comes from an injected
:class:`~kubeling.client.clock.Clock` (windows, buckets) and a wall-clock
callable (timestamps), so tests control both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kubeling.api.errors import StatusError
from kubeling.client.clock import Clock, RealClock
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)

EVENTS = StaticResource("", "v1", "events", namespaced=True)

NORMAL = "Normal"
WARNING = "Warning"

CACHE_SIZE = 4096
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
AGGREGATE_WINDOW = 600.0
QUEUE_SIZE = 1000
DROP_LOG_INTERVAL = 10.0  # seconds between "queue full" log lines


class EventSink(Protocol):
    async def create(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]: ...

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A strategic-merge patch of one Event."""
        ...


def object_reference(obj: dict[str, Any]) -> dict[str, Any]:
    """The ObjectReference for an object (or the reference itself, if given one)."""
    if "metadata" not in obj:
        return {k: v for k, v in obj.items() if v not in (None, "")}
    meta = obj["metadata"]
    reference = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    return {k: v for k, v in reference.items() if v}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Written:
    namespace: str
    name: str
    count: int
    first_timestamp: str
    last_seen: float  # monotonic


class _LRU(OrderedDict[Hashable, Any]):
    def touch(self, key: Hashable, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > CACHE_SIZE:
            self.popitem(last=False)


class _Bucket:
    def __init__(self, now: float) -> None:
        self.tokens = float(SPAM_BURST)
        self.last = now

    def take(self, now: float) -> bool:
        self.tokens = min(float(SPAM_BURST), self.tokens + (now - self.last) * SPAM_QPS)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class EventRecorder:
    def __init__(
        self,
        sink: EventSink,
        component: str,
        host: str = "",
        *,
        clock: Clock | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        aggregate_window: float = AGGREGATE_WINDOW,
        max_tries: int = 12,
        retry_interval: float = 10.0,
    ) -> None:
        self.sink = sink
        self.component = component
        self.host = host
        self._clock: Clock = clock or RealClock()
        self._wall = wall_clock
        self.aggregate_window = aggregate_window
        self.max_tries = max_tries
        self.retry_interval = retry_interval
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._written: _LRU = _LRU()
        self._buckets: _LRU = _LRU()
        self._last_name_ns = 0
        self._dropped = 0  # since the last "queue full" line
        self._last_dropped = ("", "")
        self._drops_logged_at: float | None = None

    # -- public ------------------------------------------------------------

    def event(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        """Record an Event about obj; returns at once (the write happens in the background)."""
        if type not in (NORMAL, WARNING):
            log.error("unsupported event type %r", type)
            return
        if self._queue is None:
            self._queue = asyncio.Queue(QUEUE_SIZE)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        try:
            self._queue.put_nowait(self._make(obj, type, reason, message))
        except asyncio.QueueFull:
            self._dropped += 1
            self._last_dropped = (type, reason)
            self._log_drops()

    def _log_drops(self) -> None:
        """One line for all drops since the last one, at most every DROP_LOG_INTERVAL."""
        if not self._dropped:
            return
        now = self._clock.now()
        if self._drops_logged_at is not None and now - self._drops_logged_at < DROP_LOG_INTERVAL:
            return
        type, reason = self._last_dropped
        log.warning(
            "event queue full: dropped %d event(s) since the last report (latest: %s %r)",
            self._dropped,
            type,
            reason,
        )
        self._dropped = 0
        self._drops_logged_at = now

    async def flush(self) -> None:
        """Wait until every Event recorded so far has been written (or dropped)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    # -- building ----------------------------------------------------------

    def _make(self, obj: dict[str, Any], type: str, reason: str, message: str) -> dict[str, Any]:
        reference = object_reference(obj)
        stamp = rfc3339(self._wall())
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{reference.get('name', '')}.{self._unique_suffix()}",
                "namespace": reference.get("namespace") or "default",
            },
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }

    def _unique_suffix(self) -> str:
        # Upstream names events <object>.<unix nanos in hex>; keep it strictly increasing so two
        # events in the same nanosecond tick never collide.
        self._last_name_ns = max(self._last_name_ns + 1, time.time_ns())
        return f"{self._last_name_ns:x}"

    # -- writing -----------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                await self._record(event)
            except Exception:
                log.exception("unexpected error recording event")
            finally:
                self._queue.task_done()
            self._log_drops()  # drops counted while the queue was full, once it drains

    async def _record(self, event: dict[str, Any]) -> None:
        ref = event["involvedObject"]
        object_key = (
            self.component,
            self.host,
            ref.get("kind"),
            ref.get("namespace"),
            ref.get("name"),
            ref.get("uid"),
            ref.get("apiVersion"),
        )
        identical_key = (*object_key, event["type"], event["reason"], event["message"])
        now = self._clock.now()

        previous: _Written | None = self._written.get(identical_key)
        if previous is not None and now - previous.last_seen > self.aggregate_window:
            previous = None
        if previous is not None:
            event["metadata"] = {"name": previous.name, "namespace": previous.namespace}
            event["count"] = previous.count + 1
            event["firstTimestamp"] = previous.first_timestamp

        bucket: _Bucket | None = self._buckets.get(object_key)
        if bucket is None:
            bucket = _Bucket(now)
        self._buckets.touch(object_key, bucket)
        if not bucket.take(now):
            log.debug("event spam filter: dropping %s %r", event["type"], event["reason"])
            return

        written = await self._write(event, update=previous is not None)
        if written is None:
            return
        meta = written.get("metadata", {})
        self._written.touch(
            identical_key,
            _Written(
                namespace=meta.get("namespace", event["metadata"]["namespace"]),
                name=meta.get("name", event["metadata"]["name"]),
                count=int(written.get("count") or event["count"]),
                first_timestamp=written.get("firstTimestamp") or event["firstTimestamp"],
                last_seen=now,
            ),
        )

    async def _write(self, event: dict[str, Any], *, update: bool) -> dict[str, Any] | None:
        namespace, name = event["metadata"]["namespace"], event["metadata"]["name"]
        for attempt in range(1, self.max_tries + 1):
            try:
                if update:
                    patch = {
                        "count": event["count"],
                        "lastTimestamp": event["lastTimestamp"],
                        "message": event["message"],
                    }
                    try:
                        return await self.sink.patch(namespace, name, patch)
                    except StatusError as exc:
                        if exc.code != 404:
                            raise
                        # Deleted (or expired) meanwhile: write it afresh under the same name.
                return await self.sink.create(namespace, event)
            except StatusError as exc:
                # The server understood and refused (exists, invalid, forbidden): retrying won't help.
                log.warning("server rejected event %s/%s: %s", namespace, name, exc)
                return None
            except Exception as exc:
                if attempt == self.max_tries:
                    log.warning("unable to write event %s/%s (giving up): %s", namespace, name, exc)
                    return None
                log.info("unable to write event %s/%s (will retry): %s", namespace, name, exc)
                await self._clock.sleep(self.retry_interval)
        return None


class RESTEventSink:
    """EventSink over a :class:`~kubeling.client.rest.RESTClient` (core/v1 Events)."""

    def __init__(self, client: RESTClient) -> None:
        self.client = client

    async def create(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]:
        return await self.client.create(EVENTS, event, namespace=namespace)

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.client.patch(EVENTS, patch, name=name, namespace=namespace, patch_type="strategic")
