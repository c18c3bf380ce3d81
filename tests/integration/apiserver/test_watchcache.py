"""The watch cache on real datastores: resume, 410 when too old, consistent lists."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.apiserver.store import ResourceStore, WriteContext
from kubeling.apiserver.strategies import default_checks, strategy_for
from kubeling.apiserver.watchcache import TooOldError, WatchCache
from kubeling.storage.factory import open_storage

pytestmark = pytest.mark.integration

PREFIX = "/registry/core/configmaps/"


def _value(n: int) -> bytes:
    return b'{"metadata":{"name":"c%d","namespace":"ns"},"data":{"n":"%d"}}' % (n, n)


async def _events(watcher, count: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(count):
        item = await asyncio.wait_for(watcher.queue.get(), 5)
        assert item is not None
        out.append((item[0], item[1]["metadata"]["name"]))
    return out


async def test_resume_replays_and_too_old_is_refused(tmp_path: Path) -> None:
    storage = await open_storage(backend="sqlite", data_dir=str(tmp_path))
    cache = WatchCache(storage, history=5)
    await cache.start()
    try:
        first = await storage.create(PREFIX + "ns/c0", _value(0))
        revisions = [first]
        for n in range(1, 8):
            revisions.append(await storage.create(PREFIX + f"ns/c{n}", _value(n)))
        assert await cache.wait_for(revisions[-1])
        # History keeps the last 5 events: resuming after revision of c4 replays c5..c7 only.
        watcher = cache.watch(PREFIX, PREFIX, lambda _o: True, since=revisions[4])
        assert await _events(watcher, 3) == [("ADDED", "c5"), ("ADDED", "c6"), ("ADDED", "c7")]
        with pytest.raises(TooOldError):
            cache.watch(PREFIX, PREFIX, lambda _o: True, since=first)
        # A filter sees an object leave it as DELETED.
        only_c7 = cache.watch(PREFIX, PREFIX, lambda o: o["metadata"]["name"] == "c7", since=None)
        await storage.delete(PREFIX + "ns/c7")
        assert await _events(only_c7, 1) == [("DELETED", "c7")]
    finally:
        await cache.stop()
        await storage.close()


async def test_consistent_list_sees_every_acknowledged_write(etcd_factory) -> None:
    # A private etcd: a kubeling server on the shared one would add its own objects to our namespace.
    etcd_server = etcd_factory()
    storage = await open_storage(backend="etcd3", etcd_servers=etcd_server.endpoints)
    cache = WatchCache(storage)
    await cache.start()
    registry = Registry()
    resource = registry.get("", "v1", "configmaps")
    assert resource is not None
    namespaces = registry.get("", "v1", "namespaces")
    assert namespaces is not None
    store = ResourceStore(resource, storage, cache, strategy_for(resource, default_checks(), None, None))  # type: ignore[arg-type]
    ns_store = ResourceStore(
        namespaces, storage, cache, strategy_for(namespaces, default_checks(), None, None)
    )  # type: ignore[arg-type]
    ctx = WriteContext()
    try:
        await ns_store.create("", {"metadata": {"name": "consistent"}}, ctx)
        for n in range(20):
            await store.create("consistent", {"metadata": {"name": f"c{n}"}}, ctx)
            items, _, _, _ = await store.list("consistent", matches=None)
            assert len(items) == n + 1  # read-your-writes through the cache
        # A continue token from before a compaction is refused with 410.
        _, _, token, remaining = await store.list("consistent", matches=None, limit=5)
        assert token and remaining == 15
        await store.create("consistent", {"metadata": {"name": "later"}}, ctx)
        await storage.compact(await storage.current_revision())
        with pytest.raises(errors.StatusError) as info:
            await store.list("consistent", matches=None, limit=5, continue_token=token)
        assert info.value.code == 410
    finally:
        await cache.stop()
        await storage.close()
