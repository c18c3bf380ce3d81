"""The embedded backend: one SQLite file holding an append-only revision log.

The idea is kine's (k3s): etcd's model is a log of revisions, and a relational
table can hold that log directly.

Table ``log``: one row per write.  ``id`` *is* the revision; ``name`` the key;
``create_revision`` the revision that created this incarnation of the key;
``prev_revision`` the id of the key's previous row (0 for none); ``deleted``
marks a tombstone, whose ``value`` keeps the deleted value so a DELETE event
can carry it as prev_kv.  The state at revision R is, per key, the newest row
with ``id <= R`` unless that row is a tombstone; "latest" is R = head.

Compaction at R drops every row below R that is superseded by a newer row at
or below R, plus tombstones below R; reads at any revision >= R are unchanged,
reads below R fail with CompactedError.  The compacted revision lives in the
``meta`` table.  The newest row is never dropped, so ``MAX(id)`` is the head.

Concurrency.  Every SQLite call runs on one dedicated thread, so writes are
serialized (create-if-absent races have exactly one winner) and the event loop
never blocks on disk.  The connection uses WAL with ``synchronous=NORMAL``
(durable across process crashes; a power loss may drop the last commits) and
holds the file's lock exclusively: one server process owns a data dir.

Watches are served in-process.  After each commit the writer thread hands the
event to the loop (``call_soon_threadsafe``, FIFO, so watchers see revision
order) before the writer's own await completes.  A watch registers first, then
replays the log from its start revision in pages; an event that arrives both
ways is dropped by revision.  A watcher that falls far behind discards its
queue and goes back to replaying from the log, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from kubeling.storage.interface import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    StorageError,
    WatchEvent,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

REPLAY_PAGE = 1_000
WATCH_QUEUE_LIMIT = 10_000  # past this a watcher drops its queue and replays from the log

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('compact_revision', 0);
"""


def _name_range(column: str, hi: str | None) -> str:
    # Spelled out per call: "(:hi IS NULL OR name < :hi)" would keep SQLite from bounding the index scan.
    return f"{column} >= :lo" + (f" AND {column} < :hi" if hi is not None else "")


def latest_in_range_sql(hi: str | None) -> str:
    """Newest live row per key in [lo, hi) at or below :rev, in key order."""
    return f"""
SELECT l.id, l.name, l.value, l.create_revision
FROM log AS l
JOIN (SELECT MAX(id) AS id FROM log WHERE {_name_range("name", hi)} AND id <= :rev GROUP BY name) AS newest
  ON l.id = newest.id
WHERE l.deleted = 0
ORDER BY l.name"""


def replay_sql(hi: str | None) -> str:
    """Rows under [lo, hi) from :start on, oldest first, each with its predecessor's columns."""
    return f"""
SELECT l.id, l.name, l.value, l.create_revision, l.prev_revision, l.deleted,
       p.value, p.create_revision, p.deleted
FROM log AS l LEFT JOIN log AS p ON p.id = l.prev_revision
WHERE l.id >= :start AND {_name_range("l.name", hi)}
ORDER BY l.id
LIMIT :limit"""


# A row above FIRST_REVISION never exists in an empty store: etcd also starts at revision 1.
FIRST_REVISION = 1


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with prefix (None = unbounded)."""
    trimmed = prefix.rstrip("\U0010ffff")
    if not trimmed:
        return None
    following = ord(trimmed[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000  # surrogates cannot be stored; the next storable code point keeps the order
    return trimmed[:-1] + chr(following)


class SqliteStorage:
    """``Storage`` in one SQLite file.  ``await SqliteStorage.connect(path)`` or construct + ``open()``."""

    def __init__(self, path: str | Path, *, lock_timeout: float = 2.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout  # how long to wait for a previous owner to let go of the file
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._revision = FIRST_REVISION  # head; written only by the sqlite thread
        self._compacted = 0
        self._watchers: set[SqliteWatch] = set()

    @classmethod
    async def connect(cls, path: str | Path, *, lock_timeout: float = 2.0) -> SqliteStorage:
        storage = cls(path, lock_timeout=lock_timeout)
        try:
            await storage.open()
        except BaseException:
            await storage.close()
            raise
        return storage

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-storage")
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, timeout=self.lock_timeout, isolation_level=None, check_same_thread=True
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # A second process on the same file fails fast instead of serving a diverging view.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.executescript(_SCHEMA)
            head = db.execute("SELECT MAX(id) FROM log").fetchone()[0]
            compacted = db.execute("SELECT value FROM meta WHERE name = 'compact_revision'").fetchone()[0]
        except sqlite3.OperationalError as exc:
            db.close()
            raise StorageError(f"cannot open {self.path}: {exc}") from None
        self._db = db
        self._revision = max(head or 0, FIRST_REVISION)
        self._compacted = compacted

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None or self._loop is None:
            raise StorageError("sqlite storage is not open")
        return await self._loop.run_in_executor(self._executor, fn, *args)

    # -- helpers that run on the sqlite thread ------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError("sqlite storage is closed")
        return self._db

    def _latest_row(self, key: str) -> tuple[int, bytes, int, int] | None:
        return (
            self._conn()
            .execute(
                "SELECT id, value, create_revision, deleted FROM log WHERE name = ? ORDER BY id DESC LIMIT 1",
                (key,),
            )
            .fetchone()
        )

    def _check_revision(self, revision: int) -> None:
        if revision > self._revision:
            raise FutureRevisionError(revision, self._revision)
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)

    def _append(self, key: str, value: bytes, create_revision: int, prev: int, deleted: bool) -> int:
        """Insert one log row inside a transaction; return its revision."""
        revision = self._revision + 1
        self._conn().execute(
            "INSERT INTO log (id, name, value, create_revision, prev_revision, deleted)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (revision, key, value, create_revision or revision, prev, int(deleted)),
        )
        return revision

    def _write(self, body: Callable[[], tuple[int, WatchEvent, T]]) -> T:
        """Run body in a write transaction, then publish its event; return body's result."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            revision, event, result = body()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._revision = revision
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._dispatch, event)
        return result

    # -- reads --------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        row = await self._run(self._latest_row, key)
        if row is None or row[3]:
            return None
        return KeyValue(key=key, value=row[1], create_revision=row[2], mod_revision=row[0])

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str | None = None
    ) -> ListResult:
        if start_key is not None and not start_key.startswith(prefix):
            raise ValueError(f"start_key {start_key!r} is not under prefix {prefix!r}")
        return await self._run(self._list_sync, prefix, revision, limit, start_key)

    def _list_sync(self, prefix: str, revision: int, limit: int, start_key: str | None) -> ListResult:
        if revision > 0:
            self._check_revision(revision)
        read_at = revision if revision > 0 else self._revision
        params = {"lo": max(prefix, start_key or ""), "hi": prefix_end(prefix), "rev": read_at}
        db = self._conn()
        # One read transaction so the page and the count see the same snapshot.
        db.execute("BEGIN")
        try:
            latest = latest_in_range_sql(params["hi"])
            sql = latest + (" LIMIT :limit" if limit > 0 else "")
            rows = db.execute(sql, {**params, "limit": limit + 1}).fetchall()
            more = limit > 0 and len(rows) > limit
            rows = rows[:limit] if more else rows
            remaining = 0
            if more:
                total = db.execute(f"SELECT COUNT(*) FROM ({latest})", params).fetchone()[0]
                remaining = total - len(rows)
        finally:
            db.execute("COMMIT")
        items = [
            KeyValue(key=name, value=value, create_revision=created, mod_revision=rev)
            for rev, name, value, created in rows
        ]
        return ListResult(items=items, revision=read_at, more=more, remaining=remaining)

    async def count(self, prefix: str) -> int:
        hi = prefix_end(prefix)
        sql = f"SELECT COUNT(*) FROM ({latest_in_range_sql(hi)})"
        params = {"lo": prefix, "hi": hi, "rev": self._revision}
        return await self._run(lambda: self._conn().execute(sql, params).fetchone()[0])

    async def current_revision(self) -> int:
        return self._revision

    # -- writes -------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        return await self._run(self._create_sync, key, value)

    def _create_sync(self, key: str, value: bytes) -> int:
        def body() -> tuple[int, WatchEvent, int]:
            row = self._latest_row(key)
            if row is not None and not row[3]:
                raise KeyExistsError(key)
            revision = self._append(key, value, 0, row[0] if row else 0, deleted=False)
            kv = KeyValue(key=key, value=value, create_revision=revision, mod_revision=revision)
            return revision, WatchEvent(type=EventType.PUT, kv=kv, prev_kv=None), revision

        return self._write(body)

    def _guarded_row(self, key: str, expected_revision: int | None) -> KeyValue:
        row = self._latest_row(key)
        if row is None or row[3]:
            raise KeyNotFoundError(key)
        current = KeyValue(key=key, value=row[1], create_revision=row[2], mod_revision=row[0])
        if expected_revision is not None and row[0] != expected_revision:
            raise RevisionMismatchError(key, current)
        return current

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return await self._run(self._update_sync, key, value, expected_revision)

    def _update_sync(self, key: str, value: bytes, expected_revision: int) -> int:
        def body() -> tuple[int, WatchEvent, int]:
            prev = self._guarded_row(key, expected_revision)
            revision = self._append(key, value, prev.create_revision, prev.mod_revision, deleted=False)
            kv = KeyValue(key=key, value=value, create_revision=prev.create_revision, mod_revision=revision)
            return revision, WatchEvent(type=EventType.PUT, kv=kv, prev_kv=prev), revision

        return self._write(body)

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        return await self._run(self._delete_sync, key, expected_revision)

    def _delete_sync(self, key: str, expected_revision: int | None) -> KeyValue:
        def body() -> tuple[int, WatchEvent, KeyValue]:
            prev = self._guarded_row(key, expected_revision)
            # The tombstone keeps the deleted value so replayed DELETE events can carry prev_kv.
            revision = self._append(key, prev.value, prev.create_revision, prev.mod_revision, deleted=True)
            kv = KeyValue(key=key, value=b"", create_revision=0, mod_revision=revision)
            deleted = KeyValue(
                key=key, value=prev.value, create_revision=prev.create_revision, mod_revision=revision
            )
            return revision, WatchEvent(type=EventType.DELETE, kv=kv, prev_kv=prev), deleted

        return self._write(body)

    async def compact(self, revision: int) -> None:
        """Drop history below revision; compacting at or below the current point is a no-op."""
        await self._run(self._compact_sync, revision)

    def _compact_sync(self, revision: int) -> None:
        if revision > self._revision:
            raise FutureRevisionError(revision, self._revision)
        if revision <= self._compacted:
            return
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            dropped = db.execute(
                """DELETE FROM log WHERE id < :rev AND (deleted = 1 OR EXISTS (
                       SELECT 1 FROM log AS newer
                       WHERE newer.name = log.name AND newer.id > log.id AND newer.id <= :rev))""",
                {"rev": revision},
            ).rowcount
            db.execute("UPDATE meta SET value = ? WHERE name = 'compact_revision'", (revision,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._compacted = revision
        log.debug("compacted %s at revision %d: %d rows dropped", self.path, revision, dropped)

    # -- watch --------------------------------------------------------------------

    async def watch(self, prefix: str, *, start_revision: int, prev_kv: bool = True) -> SqliteWatch:
        # Previous values come with the event rows at no extra cost: always sent.
        if self._executor is None:
            raise StorageError("sqlite storage is not open")
        if start_revision <= 0:
            start_revision = self._revision + 1
        watch = SqliteWatch(self, prefix, start_revision)
        self._watchers.add(watch)  # before any replay read: see the module docstring
        return watch

    def _dispatch(self, event: WatchEvent) -> None:
        for watch in list(self._watchers):
            if event.kv.key.startswith(watch.prefix):
                watch.offer(event)

    def _replay_sync(self, prefix: str, start: int, limit: int) -> list[WatchEvent]:
        """Events under prefix from revision start on, oldest first, at most limit."""
        if start < self._compacted:
            raise CompactedError(start, self._compacted)
        hi = prefix_end(prefix)
        rows = (
            self._conn()
            .execute(replay_sql(hi), {"start": start, "lo": prefix, "hi": hi, "limit": limit})
            .fetchall()
        )
        events = []
        for rev, key, value, create_rev, prev_rev, deleted, p_value, p_create, p_deleted in rows:
            if deleted:
                prev = KeyValue(key=key, value=value, create_revision=create_rev, mod_revision=prev_rev)
                kv = KeyValue(key=key, value=b"", create_revision=0, mod_revision=rev)
                events.append(WatchEvent(type=EventType.DELETE, kv=kv, prev_kv=prev))
            else:
                # No prev_kv after a delete (a re-create) or once compaction dropped the row.
                prev = None
                if p_value is not None and not p_deleted:
                    prev = KeyValue(key=key, value=p_value, create_revision=p_create, mod_revision=prev_rev)
                kv = KeyValue(key=key, value=value, create_revision=create_rev, mod_revision=rev)
                events.append(WatchEvent(type=EventType.PUT, kv=kv, prev_kv=prev))
        return events

    async def close(self) -> None:
        for watch in list(self._watchers):
            await watch.close()
        if self._executor is None:
            return
        await self._run(self._close_sync)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _close_sync(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


_CLOSED = object()


class SqliteWatch:
    """Events under a prefix from start_revision on.  Iterate once; ``close()`` when done."""

    def __init__(self, storage: SqliteStorage, prefix: str, start_revision: int) -> None:
        self._storage = storage
        self.prefix = prefix
        self.start_revision = start_revision
        self.next_revision = start_revision
        self._queue: collections.deque[WatchEvent] = collections.deque()
        self._wakeup = asyncio.Event()
        self._replay = True  # the first thing to do is read the log up to its head
        self._closed = False

    def offer(self, event: WatchEvent) -> None:
        if event.kv.mod_revision < self.next_revision:
            return
        if len(self._queue) >= WATCH_QUEUE_LIMIT:
            # Too far behind: forget the queue, catch up from the log instead.
            self._queue.clear()
            self._replay = True
        else:
            self._queue.append(event)
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[WatchEvent]:
        storage = self._storage
        while not self._closed:
            if self._replay:
                self._replay = False
                while not self._closed:
                    if self.next_revision < storage._compacted:
                        raise CompactedError(self.next_revision, storage._compacted)
                    if self.next_revision > storage._revision:
                        break  # nothing in the log yet; the queue has everything from here on
                    page = await storage._run(
                        storage._replay_sync, self.prefix, self.next_revision, REPLAY_PAGE
                    )
                    for event in page:
                        if self._closed:
                            return
                        self.next_revision = event.kv.mod_revision + 1
                        yield event
                    if len(page) < REPLAY_PAGE:
                        break
                continue
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._queue.popleft()
            if event.kv.mod_revision < self.next_revision:
                continue  # already delivered by the replay
            self.next_revision = event.kv.mod_revision + 1
            yield event

    async def close(self) -> None:
        self._closed = True
        self._storage._watchers.discard(self)
        self._queue.clear()
        self._wakeup.set()
