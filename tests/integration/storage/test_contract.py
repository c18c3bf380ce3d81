"""The storage contract, run against both backends (ids "etcd" and "sqlite").

The etcd backend runs against a real etcd member private to this module
(compaction here must not disturb other suites' shared etcd); the SQLite
backend gets a fresh file per test.  Every test works under its own random
prefix.  Backend-specific behaviour (TLS, endpoint fail-over, restarts, the
SQLite file lock and slow watchers) follows the shared contract tests.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from kubeling.storage import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    Storage,
    StorageError,
    UnavailableError,
    Watch,
    WatchEvent,
)
from kubeling.storage import sqlite as sqlite_module
from kubeling.storage.etcd import EtcdStorage
from kubeling.storage.factory import open_storage
from kubeling.storage.sqlite import SqliteStorage
from tests.fixtures.etcd import EtcdServer, dead_endpoint

pytestmark = pytest.mark.integration

EVENT_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def contract_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    server = EtcdServer(tmp_path_factory.mktemp("etcd-contract")).start()
    yield server
    server.stop()


@pytest.fixture(params=["etcd", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store: Storage
    if request.param == "etcd":
        server: EtcdServer = request.getfixturevalue("contract_etcd")
        store = await EtcdStorage.connect(server.endpoints)
    else:
        store = await SqliteStorage.connect(tmp_path / "state.db")
    yield store
    await store.close()


@pytest.fixture
def prefix() -> str:
    return f"/registry/t{uuid.uuid4().hex[:10]}/"


async def next_events(watch: Watch, count: int, timeout: float = EVENT_TIMEOUT) -> list[WatchEvent]:
    """The next ``count`` events of watch (fails if they do not come in time)."""
    events: list[WatchEvent] = []
    iterator = aiter(watch)
    async with asyncio.timeout(timeout):
        while len(events) < count:
            events.append(await anext(iterator))
    return events


def summary(event: WatchEvent) -> tuple[str, str, bytes, int, bytes | None]:
    """What a test compares: type, key, value, revision and the previous value."""
    prev = event.prev_kv.value if event.prev_kv is not None else None
    return event.type.value, event.kv.key, event.kv.value, event.kv.mod_revision, prev


# -- get / create / update / delete --------------------------------------------------------


async def test_create_then_get(storage: Storage, prefix: str) -> None:
    key = prefix + "a"
    assert await storage.get(key) is None
    revision = await storage.create(key, b"one")
    assert await storage.get(key) == KeyValue(key, b"one", create_revision=revision, mod_revision=revision)
    assert await storage.current_revision() == revision


async def test_update_keeps_create_revision_and_moves_mod_revision(storage: Storage, prefix: str) -> None:
    key = prefix + "a"
    created = await storage.create(key, b"one")
    updated = await storage.update(key, b"two", expected_revision=created)
    assert updated > created
    assert await storage.get(key) == KeyValue(key, b"two", create_revision=created, mod_revision=updated)


async def test_delete_returns_deleted_value_at_deletion_revision(storage: Storage, prefix: str) -> None:
    key = prefix + "a"
    created = await storage.create(key, b"one")
    updated = await storage.update(key, b"two", expected_revision=created)
    deleted = await storage.delete(key)
    assert deleted.key == key
    assert deleted.value == b"two"
    assert deleted.create_revision == created
    assert deleted.mod_revision > updated
    assert deleted.mod_revision == await storage.current_revision()
    assert await storage.get(key) is None


async def test_guarded_delete_with_current_revision(storage: Storage, prefix: str) -> None:
    key = prefix + "a"
    created = await storage.create(key, b"one")
    deleted = await storage.delete(key, expected_revision=created)
    assert (deleted.value, deleted.create_revision) == (b"one", created)
    assert await storage.get(key) is None


async def test_recreate_after_delete_starts_a_new_life(storage: Storage, prefix: str) -> None:
    key = prefix + "a"
    await storage.create(key, b"one")
    await storage.delete(key)
    again = await storage.create(key, b"two")
    assert await storage.get(key) == KeyValue(key, b"two", create_revision=again, mod_revision=again)


async def _live(storage: Storage, key: str) -> int:
    revision = await storage.create(key, b"v1")
    return await storage.update(key, b"v2", expected_revision=revision)


async def _deleted(storage: Storage, key: str) -> int:
    revision = await storage.create(key, b"v1")
    await storage.delete(key)
    return revision


def _update(revision: Callable[[int], int]) -> Callable[[Storage, str, int], Awaitable[int]]:
    return lambda s, key, rev: s.update(key, b"x", expected_revision=revision(rev))


def _delete(revision: Callable[[int], int] | None) -> Callable[[Storage, str, int], Awaitable[KeyValue]]:
    return lambda s, key, rev: s.delete(key, expected_revision=revision(rev) if revision else None)


# (state before, the write, the error it must raise)
WRITE_ERRORS = {
    "create-existing": (_live, lambda s, key, rev: s.create(key, b"x"), KeyExistsError),
    "update-absent": (None, _update(lambda rev: 1), KeyNotFoundError),
    "update-absent-rev-0": (None, _update(lambda rev: 0), KeyNotFoundError),
    "update-deleted": (_deleted, _update(lambda rev: rev), KeyNotFoundError),
    "update-stale": (_live, _update(lambda rev: rev - 1), RevisionMismatchError),
    "delete-absent": (None, _delete(None), KeyNotFoundError),
    "delete-deleted": (_deleted, _delete(None), KeyNotFoundError),
    "guarded-delete-absent": (None, _delete(lambda rev: 5), KeyNotFoundError),
    "guarded-delete-stale": (_live, _delete(lambda rev: rev - 1), RevisionMismatchError),
}


@pytest.mark.parametrize(("setup", "write", "error"), WRITE_ERRORS.values(), ids=WRITE_ERRORS.keys())
async def test_write_errors(
    storage: Storage,
    prefix: str,
    setup: Callable[[Storage, str], Awaitable[int]] | None,
    write: Callable[[Storage, str, int], Awaitable[object]],
    error: type[StorageError],
) -> None:
    key = prefix + "k"
    revision = await setup(storage, key) if setup else 0
    before = await storage.get(key)
    head = await storage.current_revision()
    with pytest.raises(error) as caught:
        await write(storage, key, revision)
    assert caught.value.key == key  # type: ignore[attr-defined]
    if isinstance(caught.value, RevisionMismatchError):
        assert caught.value.current == before  # the caller gets the value it lost to
    # A refused write changes nothing.
    assert await storage.get(key) == before
    assert await storage.current_revision() == head


async def test_revisions_are_monotonic_and_equal_mod_revision(storage: Storage, prefix: str) -> None:
    seen: list[int] = []
    for index in range(5):
        key = f"{prefix}k{index}"
        created = await storage.create(key, b"x")
        updated = await storage.update(key, b"y", expected_revision=created)
        seen += [created, updated]
        assert (await storage.get(key)).mod_revision == updated  # type: ignore[union-attr]
    seen.append((await storage.delete(f"{prefix}k0")).mod_revision)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert await storage.current_revision() == seen[-1]
    listed = await storage.list(prefix)
    assert [kv.mod_revision for kv in listed.items] == seen[3:-1:2]
    assert listed.revision == seen[-1]


# -- list ----------------------------------------------------------------------------------


async def test_list_at_a_past_revision(storage: Storage, prefix: str) -> None:
    a = await storage.create(prefix + "a", b"a1")
    b = await storage.create(prefix + "b", b"b1")
    past = await storage.current_revision()
    a2 = await storage.update(prefix + "a", b"a2", expected_revision=a)
    await storage.delete(prefix + "b")
    c = await storage.create(prefix + "c", b"c1")

    then = await storage.list(prefix, revision=past)
    assert then.items == [KeyValue(prefix + "a", b"a1", a, a), KeyValue(prefix + "b", b"b1", b, b)]
    assert then.revision == past
    now = await storage.list(prefix)
    assert now.items == [KeyValue(prefix + "a", b"a2", a, a2), KeyValue(prefix + "c", b"c1", c, c)]
    assert now.revision == c
    assert (now.more, now.remaining) == (False, 0)


async def test_list_at_a_future_revision_fails(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", b"x")
    head = await storage.current_revision()
    with pytest.raises(FutureRevisionError):
        await storage.list(prefix, revision=head + 100)


@pytest.mark.parametrize("limit", [1, 7, 25, 100], ids=lambda n: f"limit-{n}")
async def test_pagination_returns_every_key_once_at_one_revision(
    storage: Storage, prefix: str, limit: int
) -> None:
    keys = [f"{prefix}obj-{index:03d}" for index in range(25)]
    for key in reversed(keys):  # creation order differs from key order
        await storage.create(key, key.encode())

    first = await storage.list(prefix, limit=limit)
    revision = first.revision
    # Writes after the first page must not show up in later pages (they read at its revision).
    await storage.create(prefix + "obj-000a", b"late")
    await storage.delete(keys[-1])

    pages = [first]
    while pages[-1].more:
        start = pages[-1].items[-1].key + "\x00"
        pages.append(await storage.list(prefix, revision=revision, limit=limit, start_key=start))
        assert pages[-1].revision == revision
    got = [kv.key for page in pages for kv in page.items]
    assert got == keys
    assert all(len(page.items) == min(limit, 25) for page in pages[:-1])
    returned = 0
    for page in pages:
        returned += len(page.items)
        assert page.remaining == 25 - returned
        assert page.more == (returned < 25)


async def test_prefixes_are_isolated(storage: Storage, prefix: str) -> None:
    a, ab = prefix + "a/", prefix + "ab/"
    await storage.create(a + "one", b"1")
    await storage.create(ab + "two", b"2")
    await storage.create(prefix + "a", b"bare")  # the prefix without its slash is another key
    assert [kv.key for kv in (await storage.list(a)).items] == [a + "one"]
    assert [kv.key for kv in (await storage.list(ab)).items] == [ab + "two"]
    assert await storage.count(a) == 1
    assert await storage.count(prefix) == 3

    watch = await storage.watch(a, start_revision=await storage.current_revision() + 1)
    try:
        await storage.create(ab + "three", b"3")
        await storage.create(a + "four", b"4")
        [event] = await next_events(watch, 1)
        assert event.kv.key == a + "four"
    finally:
        await watch.close()


# -- watch ----------------------------------------------------------------------------------


async def test_watch_from_a_revision_sees_exactly_the_later_events(storage: Storage, prefix: str) -> None:
    k1, k2 = prefix + "k1", prefix + "k2"
    r1 = await storage.create(k1, b"v1")
    r2 = await storage.update(k1, b"v2", expected_revision=r1)
    r3 = await storage.create(k2, b"w1")
    await storage.create("/registry/elsewhere-" + prefix.strip("/").replace("/", "-"), b"not watched")
    r4 = (await storage.delete(k1)).mod_revision

    watch = await storage.watch(prefix, start_revision=r2)
    try:
        replayed = await next_events(watch, 3)
        assert [summary(e) for e in replayed] == [
            ("PUT", k1, b"v2", r2, b"v1"),
            ("PUT", k2, b"w1", r3, None),
            ("DELETE", k1, b"", r4, b"v2"),
        ]
        delete = replayed[2]
        assert delete.prev_kv == KeyValue(k1, b"v2", create_revision=r1, mod_revision=r2)
        assert replayed[0].kv.create_revision == r1

        # Live events follow, in order; a re-create carries no prev_kv.
        r5 = await storage.create(k1, b"again")
        r6 = await storage.update(k2, b"w2", expected_revision=r3)
        live = await next_events(watch, 2)
        assert [summary(e) for e in live] == [("PUT", k1, b"again", r5, None), ("PUT", k2, b"w2", r6, b"w1")]
        assert live[0].kv.create_revision == r5
    finally:
        await watch.close()


async def test_watch_without_prev_kv_sees_the_same_events(storage: Storage, prefix: str) -> None:
    """prev_kv=False may drop previous values (etcd does), never events, keys, values or revisions."""
    k1 = prefix + "k1"
    r1 = await storage.create(k1, b"v1")
    r2 = await storage.update(k1, b"v2", expected_revision=r1)
    r3 = (await storage.delete(k1)).mod_revision
    watch = await storage.watch(prefix, start_revision=r1, prev_kv=False)
    try:
        events = await next_events(watch, 3)
        assert [summary(e)[:4] for e in events] == [
            ("PUT", k1, b"v1", r1),
            ("PUT", k1, b"v2", r2),
            ("DELETE", k1, b"", r3),
        ]
    finally:
        await watch.close()


async def test_watch_opened_during_writes_sees_each_event_once(storage: Storage, prefix: str) -> None:
    writes = 60
    revisions: list[int] = []

    async def writer() -> None:
        for index in range(writes):
            revisions.append(await storage.create(f"{prefix}{index:03d}", b"x"))
            if index % 10 == 0:
                await asyncio.sleep(0)  # let the watch open in between

    task = asyncio.create_task(writer())
    while len(revisions) < writes // 3:
        await asyncio.sleep(0.001)
    start = revisions[5]  # in the past: replayed, while newer events arrive live
    watch = await storage.watch(prefix, start_revision=start)
    try:
        await task
        events = await next_events(watch, writes - 5)
        assert [e.kv.mod_revision for e in events] == revisions[5:]
        tail = await storage.create(prefix + "tail", b"x")
        assert [e.kv.mod_revision for e in await next_events(watch, 1)] == [tail]
    finally:
        await watch.close()


async def test_watch_from_now_sees_only_new_events(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "old", b"x")
    watch = await storage.watch(prefix, start_revision=await storage.current_revision() + 1)
    try:
        revisions = [await storage.create(f"{prefix}new-{index}", b"x") for index in range(20)]
        events = await next_events(watch, 20)
        assert [e.kv.mod_revision for e in events] == revisions
        assert all(e.type is EventType.PUT for e in events)
    finally:
        await watch.close()


async def test_close_ends_a_running_iteration(storage: Storage, prefix: str) -> None:
    watch = await storage.watch(prefix, start_revision=await storage.current_revision() + 1)
    received: list[WatchEvent] = []

    async def consume() -> None:
        async for event in watch:
            received.append(event)

    task = asyncio.create_task(consume())
    await storage.create(prefix + "a", b"x")
    async with asyncio.timeout(EVENT_TIMEOUT):
        while not received:
            await asyncio.sleep(0.01)
    await watch.close()
    async with asyncio.timeout(EVENT_TIMEOUT):
        await task  # ends cleanly, no exception
    assert [e.kv.key for e in received] == [prefix + "a"]


# -- compaction -----------------------------------------------------------------------------


async def test_compaction(storage: Storage, prefix: str) -> None:
    key = prefix + "a"
    first = await storage.create(key, b"v1")
    await storage.update(key, b"v2", expected_revision=first)
    await storage.create(prefix + "gone", b"x")
    await storage.delete(prefix + "gone")
    point = await storage.current_revision()
    await storage.compact(point)
    await storage.compact(point)  # again: nothing to do, no error

    with pytest.raises(CompactedError) as listed:
        await storage.list(prefix, revision=first)
    assert (listed.value.requested, listed.value.compacted) == (first, point)

    watch = await storage.watch(prefix, start_revision=first)
    try:
        with pytest.raises(CompactedError) as watched:
            await next_events(watch, 1)
        assert watched.value.compacted == point
    finally:
        await watch.close()

    # Reads at and after the compaction point are intact.
    at_point = await storage.list(prefix, revision=point)
    assert [(kv.key, kv.value) for kv in at_point.items] == [(key, b"v2")]
    assert (await storage.get(key)).value == b"v2"  # type: ignore[union-attr]
    later = await storage.create(prefix + "b", b"x")
    watch = await storage.watch(prefix, start_revision=point + 1)
    try:
        [event] = await next_events(watch, 1)
        assert event.kv.mod_revision == later
    finally:
        await watch.close()


async def test_compact_in_the_future_fails(storage: Storage) -> None:
    with pytest.raises(FutureRevisionError):
        await storage.compact(await storage.current_revision() + 100)


# -- concurrency ----------------------------------------------------------------------------


async def test_concurrent_create_if_absent_has_one_winner(storage: Storage, prefix: str) -> None:
    key = prefix + "lock"

    async def attempt(index: int) -> int | None:
        try:
            return await storage.create(key, f"{index}".encode())
        except KeyExistsError:
            return None

    results = await asyncio.gather(*(attempt(index) for index in range(50)))
    winners = [(index, revision) for index, revision in enumerate(results) if revision is not None]
    assert len(winners) == 1
    [(index, revision)] = winners
    assert await storage.get(key) == KeyValue(key, f"{index}".encode(), revision, revision)


async def test_concurrent_guarded_updates_lose_nothing(storage: Storage, prefix: str) -> None:
    key = prefix + "counter"
    await storage.create(key, b"0")
    workers, increments = 10, 10
    conflicts = 0

    async def worker() -> None:
        nonlocal conflicts
        current = await storage.get(key)
        for _ in range(increments):
            while True:
                assert current is not None
                value = str(int(current.value) + 1).encode()
                try:
                    await storage.update(key, value, expected_revision=current.mod_revision)
                    current = await storage.get(key)
                    break
                except RevisionMismatchError as lost:
                    conflicts += 1
                    current = lost.current

    await asyncio.gather(*(worker() for _ in range(workers)))
    final = await storage.get(key)
    assert final is not None and int(final.value) == workers * increments
    assert conflicts > 0  # the workers really raced


# -- the factory ----------------------------------------------------------------------------


async def test_factory_opens_both_backends(contract_etcd: EtcdServer, tmp_path: Path) -> None:
    etcd = await open_storage(backend="etcd3", etcd_servers=contract_etcd.endpoints)
    sqlite = await open_storage(backend="sqlite", data_dir=str(tmp_path))
    try:
        assert isinstance(etcd, EtcdStorage) and isinstance(sqlite, SqliteStorage)
        assert (tmp_path / "state.db").exists()
    finally:
        await etcd.close()
        await sqlite.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "etcd3"},
        {"backend": "sqlite"},
        {"backend": "etcd2", "etcd_servers": ["http://127.0.0.1:1"]},
    ],
    ids=["etcd-without-servers", "sqlite-without-dir", "unknown-backend"],
)
async def test_factory_rejects_bad_configs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        await open_storage(**kwargs)


# -- etcd only ------------------------------------------------------------------------------


async def test_etcd_tls_with_client_certificate(etcd_tls_server: EtcdServer, prefix: str) -> None:
    store = await EtcdStorage.connect(
        etcd_tls_server.endpoints,
        ca_file=etcd_tls_server.ca_file,
        cert_file=etcd_tls_server.cert_file,
        key_file=etcd_tls_server.key_file,
    )
    try:
        revision = await store.create(prefix + "a", b"secret")
        assert (await store.get(prefix + "a")) == KeyValue(prefix + "a", b"secret", revision, revision)
        watch = await store.watch(prefix, start_revision=revision)
        try:
            [event] = await next_events(watch, 1)
            assert event.kv.mod_revision == revision
        finally:
            await watch.close()
    finally:
        await store.close()


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda s: {"ca_file": s.ca_file}, id="no-client-cert"),
        pytest.param(lambda s: {}, id="untrusted-server"),
    ],
)
async def test_etcd_tls_refused_without_credentials(
    etcd_tls_server: EtcdServer, credentials: Callable[[EtcdServer], dict[str, str]]
) -> None:
    store = EtcdStorage(etcd_tls_server.endpoints, request_timeout=5.0, **credentials(etcd_tls_server))
    try:
        with pytest.raises(UnavailableError):
            await store.open()
    finally:
        await store.close()


async def test_etcd_fails_over_past_a_dead_first_endpoint(etcd_server: EtcdServer, prefix: str) -> None:
    store = await EtcdStorage.connect([dead_endpoint(), *etcd_server.endpoints])
    try:
        revision = await store.create(prefix + "a", b"x")
        assert (await store.get(prefix + "a")).mod_revision == revision  # type: ignore[union-attr]
        watch = await store.watch(prefix, start_revision=revision)
        try:
            [event] = await next_events(watch, 1)
            assert event.kv.key == prefix + "a"
        finally:
            await watch.close()
    finally:
        await store.close()


async def test_etcd_with_no_live_endpoint_is_unavailable() -> None:
    store = EtcdStorage([dead_endpoint(), dead_endpoint()], request_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        await store.open()
    assert time.monotonic() - started < 5.0
    await store.close()


async def test_etcd_watch_survives_a_member_restart(
    etcd_factory: Callable[..., EtcdServer], prefix: str
) -> None:
    server = etcd_factory()
    store = await EtcdStorage.connect(server.endpoints)
    watch = await store.watch(prefix, start_revision=await store.current_revision() + 1)
    try:
        first = await store.create(prefix + "before", b"x")
        [event] = await next_events(watch, 1)
        assert event.kv.mod_revision == first

        await asyncio.to_thread(server.restart, hard=True)
        # Writes made by another client right after the restart, likely before the watch reconnects.
        other = await EtcdStorage.connect(server.endpoints)
        try:
            revisions = [await other.create(f"{prefix}after-{index}", b"x") for index in range(3)]
        finally:
            await other.close()
        events = await next_events(watch, 3, timeout=30.0)
        assert [e.kv.mod_revision for e in events] == revisions
    finally:
        await watch.close()
        await store.close()


def watcher_gauge(server: EtcdServer) -> float:
    with urllib.request.urlopen(server.endpoints[0] + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    match = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.MULTILINE)
    assert match, "etcd exposes no watcher gauge"
    return float(match.group(1))


async def test_etcd_close_cancels_the_server_side_watcher(
    etcd_factory: Callable[..., EtcdServer], prefix: str
) -> None:
    server = etcd_factory()
    store = await EtcdStorage.connect(server.endpoints)
    try:
        baseline = watcher_gauge(server)
        watches = [await store.watch(prefix, start_revision=1) for _ in range(5)]
        assert watcher_gauge(server) == baseline + 5
        for watch in watches:
            await watch.close()
        deadline = time.monotonic() + 5
        while watcher_gauge(server) != baseline and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert watcher_gauge(server) == baseline
    finally:
        await store.close()


# -- sqlite only ------------------------------------------------------------------------------


async def test_sqlite_state_survives_reopen(tmp_path: Path, prefix: str) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.connect(path)
    created = await store.create(prefix + "a", b"x")
    await store.create(prefix + "b", b"y")
    await store.compact(created)
    deleted = (await store.delete(prefix + "b")).mod_revision
    await store.close()

    store = await SqliteStorage.connect(path)
    try:
        assert await store.current_revision() == deleted
        assert [kv.key for kv in (await store.list(prefix)).items] == [prefix + "a"]
        with pytest.raises(CompactedError):
            await store.list(prefix, revision=created - 1)
        assert await store.create(prefix + "c", b"z") == deleted + 1
    finally:
        await store.close()


async def test_sqlite_file_belongs_to_one_server(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.connect(path)
    try:
        await store.create("/registry/x", b"x")
        with pytest.raises(StorageError, match="locked"):
            await SqliteStorage.connect(path, lock_timeout=0.1)
        script = (
            f"import sqlite3; c = sqlite3.connect({str(path)!r}, timeout=0); c.execute('SELECT 1 FROM log')"
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )
        _, stderr = await child.communicate()
        assert child.returncode != 0 and b"locked" in stderr
    finally:
        await store.close()
    # Closed, the file is free again.
    reopened = await SqliteStorage.connect(path)
    assert (await reopened.get("/registry/x")).value == b"x"  # type: ignore[union-attr]
    await reopened.close()


async def test_sqlite_slow_watcher_catches_up_from_the_log(
    tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "WATCH_QUEUE_LIMIT", 5)
    monkeypatch.setattr(sqlite_module, "REPLAY_PAGE", 4)
    store = await SqliteStorage.connect(tmp_path / "state.db")
    try:
        watch = await store.watch(prefix, start_revision=await store.current_revision() + 1)
        first = await store.create(prefix + "first", b"x")
        assert [e.kv.mod_revision for e in await next_events(watch, 1)] == [first]
        # Now live and idle: 30 events overflow its queue (limit 5) several times over.
        revisions = [await store.create(f"{prefix}{index:02d}", b"x") for index in range(30)]
        events = await next_events(watch, 30)
        assert [e.kv.mod_revision for e in events] == revisions
        tail = await store.create(prefix + "tail", b"x")
        assert [e.kv.mod_revision for e in await next_events(watch, 1)] == [tail]  # no duplicate in between
        await watch.close()
    finally:
        await store.close()
