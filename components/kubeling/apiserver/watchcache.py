"""The watch cache: every stored object in memory, fed by one storage watch.

Upstream keeps one cacher per resource; here one cache covers the whole
``/registry/`` prefix.  It lists everything once at revision R, then watches
from R+1.  Because every write of the cluster lands under that prefix, the
last revision the cache has seen equals the datastore's revision once it has
caught up — so a consistent list is "ask storage for its current revision,
wait until the cache has seen it, answer from memory" (like upstream's
consistent reads from cache).

A bounded history of recent events lets watches resume from a
resourceVersion; asking for one older than the history gets 410 Gone, and the
client relists.

Watchers are queues with filters.  A slow watcher whose queue fills is
closed (its client reconnects), so it never stalls the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kubeling.apiserver.objects import Obj, decode
from kubeling.storage import CompactedError, EventType, Storage, StorageError

log = logging.getLogger(__name__)

ROOT = "/registry/"
HISTORY = 20_000
WATCHER_QUEUE = 2_000


def bucket_of(key: str) -> str:
    """The per-resource prefix of a key: /registry/<group>/<resource>/."""
    parts = key.split("/", 4)
    if len(parts) < 5:
        return key
    return f"/{parts[1]}/{parts[2]}/{parts[3]}/"


@dataclass(slots=True)
class CacheEvent:
    revision: int
    bucket: str
    key: str
    obj: Obj | None  # None for deletes
    prev: Obj | None


Filter = Callable[[Obj], bool]


@dataclass(eq=False)  # identity semantics: watchers live in a set
class Watcher:
    bucket: str
    prefix: str
    matches: Filter
    convert: Callable[[Obj], Obj] | None = None  # storage version -> the watcher's version
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=lambda: asyncio.Queue(WATCHER_QUEUE))
    closed: bool = False

    def offer(self, event: CacheEvent) -> None:
        if self.closed or not event.key.startswith(self.prefix):
            return
        obj, prev = event.obj, event.prev
        if self.convert is not None:
            obj = self.convert(obj) if obj is not None else None
            prev = self.convert(prev) if prev is not None else None
        now = obj is not None and self.matches(obj)
        before = prev is not None and self.matches(prev)
        if now and before:
            item = ("MODIFIED", obj)
        elif now:
            item = ("ADDED", obj)
        elif before:
            # Deleted, or changed so that it no longer matches: the client sees it go.
            gone = obj if obj is not None else _deleted_view(prev, event.revision)
            item = ("DELETED", gone)
        else:
            return
        try:
            self.queue.put_nowait(item)  # type: ignore[arg-type]
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Make room so the sentinel always fits.
        while self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


def _deleted_view(prev: Obj | None, revision: int) -> Obj:
    assert prev is not None
    obj = dict(prev)
    obj["metadata"] = {**prev.get("metadata", {}), "resourceVersion": str(revision)}
    return obj


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class WatchCache:
    def __init__(self, storage: Storage, *, history: int = HISTORY) -> None:
        self._storage = storage
        self._buckets: dict[str, dict[str, Obj]] = {}
        self._history: deque[CacheEvent] = deque()
        self._history_limit = history
        self._window_start = 0  # history is complete for revisions > this
        self.revision = 0
        self._watchers: set[Watcher] = set()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._run(), name="watch-cache")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for watcher in list(self._watchers):
            watcher.close()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def _load(self) -> None:
        buckets: dict[str, dict[str, Obj]] = {}
        revision = 0
        start: str | None = None
        while True:
            page = await self._storage.list(ROOT, revision=revision, limit=2_000, start_key=start)
            revision = page.revision
            for kv in page.items:
                buckets.setdefault(bucket_of(kv.key), {})[kv.key] = decode(kv.value, kv.mod_revision)
            if not page.more or not page.items:
                break
            start = page.items[-1].key + "\x00"
        self._buckets = buckets
        self.revision = revision
        self._window_start = revision
        self._history.clear()
        self._ready.set()
        log.info("watch cache loaded %d objects at revision %d", sum(map(len, buckets.values())), revision)

    async def _run(self) -> None:
        while True:
            try:
                # The cache holds every key's value since its last load, so it
                # knows each event's previous value: storage needn't send it.
                watch = await self._storage.watch(ROOT, start_revision=self.revision + 1, prev_kv=False)
                try:
                    async for event in watch:
                        await self._apply(event)
                finally:
                    await watch.close()
            except asyncio.CancelledError:
                raise
            except CompactedError:
                log.warning("watch cache fell behind compaction; reloading")
                for watcher in list(self._watchers):
                    watcher.close()
                await self._load()
            except StorageError as exc:
                log.warning("watch cache stream broke (%s); resuming from %d", exc, self.revision + 1)
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("watch cache stream failed; resuming from %d", self.revision + 1)
                await asyncio.sleep(0.5)

    async def _apply(self, event) -> None:
        key = event.kv.key
        bucket = bucket_of(key)
        objects = self._buckets.setdefault(bucket, {})
        prev = objects.get(key)
        revision = event.kv.mod_revision
        if event.type is EventType.PUT:
            obj = decode(event.kv.value, revision)
            objects[key] = obj
        else:
            obj = None
            objects.pop(key, None)
            if prev is None and event.prev_kv is not None:
                prev = decode(event.prev_kv.value, event.prev_kv.mod_revision)
        cache_event = CacheEvent(revision, bucket, key, obj, prev)
        self._history.append(cache_event)
        if len(self._history) > self._history_limit:
            dropped = self._history.popleft()
            self._window_start = dropped.revision
        self.revision = revision
        for watcher in list(self._watchers):
            if watcher.bucket == bucket:
                watcher.offer(cache_event)
        async with self._advanced:
            self._advanced.notify_all()

    # -- reads -------------------------------------------------------------

    async def wait_for(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has seen ``revision``; False on timeout."""
        if self.revision >= revision:
            return True
        try:
            async with asyncio.timeout(timeout), self._advanced:
                await self._advanced.wait_for(lambda: self.revision >= revision)
        except TimeoutError:
            return False
        return True

    async def wait_fresh(self, timeout: float = 3.0) -> bool:
        """Wait until the cache has caught up with the datastore's current revision."""
        return await self.wait_for(await self._storage.current_revision(), timeout)

    def list(self, bucket: str, prefix: str) -> list[Obj]:
        objects = self._buckets.get(bucket, {})
        if prefix == bucket:
            return [objects[k] for k in sorted(objects)]
        return [objects[k] for k in sorted(objects) if k.startswith(prefix)]

    def get(self, key: str) -> Obj | None:
        return self._buckets.get(bucket_of(key), {}).get(key)

    def count(self, bucket: str) -> int:
        return len(self._buckets.get(bucket, {}))

    # -- watches -----------------------------------------------------------

    def watch(
        self,
        bucket: str,
        prefix: str,
        matches: Filter,
        *,
        since: int | None,
        convert: Callable[[Obj], Obj] | None = None,
    ) -> Watcher:
        """Open a watcher.  ``since=None`` starts now; else replay events after ``since``.

        Raises TooOldError when ``since`` predates the history window.
        """
        watcher = Watcher(bucket, prefix, matches, convert)
        if since is not None and since < self.revision:
            if since < self._window_start:
                raise TooOldError(since, self._window_start)
            for event in self._history:
                if event.revision > since and event.bucket == bucket:
                    watcher.offer(event)
        self._watchers.add(watcher)
        return watcher

    def forget(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        watcher.closed = True

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)
