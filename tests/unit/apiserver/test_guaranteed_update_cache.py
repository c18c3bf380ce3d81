"""guaranteed_update(cached_first=True) decides like a storage read, even on a stale cache.

The pods/binding handler starts from the watch cache's copy of the pod; these
tests feed it stale, missing and recreated copies and check every outcome
against the same binding done from a storage read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.apiserver.handlers import bind_pod
from kubeling.apiserver.objects import decode, deep_copy, encode
from kubeling.apiserver.store import ResourceStore, WriteContext
from kubeling.apiserver.strategies import PodStrategy, default_checks
from kubeling.storage.factory import open_storage

PODS = Registry().get("", "v1", "pods")
assert PODS is not None
KEY = PODS.key("ns", "p")


class FakeCache:
    """Only what guaranteed_update asks of the watch cache: a (possibly stale) copy by key."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.objects.get(key)


def pod(uid: str = "u1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": uid, "labels": {"v": "1"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec},
        "status": {"phase": "Pending"},
    }


@pytest.fixture
async def env(tmp_path: Path) -> Any:
    storage = await open_storage(backend="sqlite", etcd_servers=None, data_dir=str(tmp_path))
    cache = FakeCache()
    store = ResourceStore(PODS, storage, cache, PodStrategy(PODS, default_checks()))  # type: ignore[arg-type]
    yield storage, cache, store
    await storage.close()


async def put(storage: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """Store obj (create or overwrite); returns it as the cache would hold it."""
    current = await storage.get(KEY)
    if current is None:
        revision = await storage.create(KEY, encode(obj))
    else:
        revision = await storage.update(KEY, encode(obj), expected_revision=current.mod_revision)
    return decode(encode(obj), revision)


async def bind(store: ResourceStore, node: str = "n1", uid: str | None = None) -> None:
    body: dict[str, Any] = {"target": {"name": node}}
    if uid:
        body["metadata"] = {"uid": uid}
    await bind_pod(None, store, "ns", "p", body, WriteContext(field_manager="test"))  # type: ignore[arg-type]


async def stored(storage: Any) -> dict[str, Any]:
    kv = await storage.get(KEY)
    return decode(kv.value, kv.mod_revision)


def without_times(obj: dict[str, Any]) -> dict[str, Any]:
    obj = deep_copy(obj)
    for condition in obj["status"].get("conditions") or []:
        condition.pop("lastTransitionTime", None)
    obj["metadata"].pop("resourceVersion", None)
    return obj


async def test_fresh_cache_binds_without_reading_storage(env: Any) -> None:
    storage, cache, store = env
    cache.objects[KEY] = await put(storage, pod())
    reads = 0
    real_get = storage.get

    async def counting_get(key: str) -> Any:
        nonlocal reads
        reads += 1
        return await real_get(key)

    storage.get = counting_get
    await bind(store)
    storage.get = real_get
    assert reads == 0
    result = await stored(storage)
    assert result["spec"]["nodeName"] == "n1"
    assert [c["type"] for c in result["status"]["conditions"]] == ["PodScheduled"]


async def test_stale_cache_gives_the_same_object_as_a_storage_read(env: Any) -> None:
    storage, cache, store = env
    cache.objects[KEY] = await put(storage, pod())
    newer = pod()
    newer["metadata"]["labels"] = {"v": "2"}
    await put(storage, newer)  # the cache has not seen this write
    await bind(store)
    from_cache = await stored(storage)
    assert from_cache["metadata"]["labels"] == {"v": "2"}
    # The same binding from a storage read (no suggestion) gives the same object.
    cache.objects.clear()
    await put(storage, newer)
    await bind(store)
    assert without_times(await stored(storage)) == without_times(from_cache)


async def test_stale_unbound_copy_still_conflicts_with_a_stored_binding(env: Any) -> None:
    storage, cache, store = env
    cache.objects[KEY] = await put(storage, pod())
    await put(storage, pod(nodeName="other"))
    with pytest.raises(errors.StatusError) as caught:
        await bind(store)
    assert caught.value.code == 409
    assert 'already assigned to node "other"' in caught.value.status()["message"]


async def test_error_on_a_stale_copy_is_judged_again_on_storage(env: Any) -> None:
    storage, cache, store = env
    # The cache still has an old, bound pod of the same name; storage has its unbound successor.
    cache.objects[KEY] = await put(storage, pod(uid="old", nodeName="n0"))
    await put(storage, pod(uid="new"))
    await bind(store, uid="new")
    result = await stored(storage)
    assert result["metadata"]["uid"] == "new"
    assert result["spec"]["nodeName"] == "n1"


async def test_missing_from_cache_reads_storage(env: Any) -> None:
    storage, _cache, store = env
    await put(storage, pod())
    await bind(store)
    assert (await stored(storage))["spec"]["nodeName"] == "n1"


async def test_deleted_pod_is_not_found_even_if_cached(env: Any) -> None:
    storage, cache, store = env
    cache.objects[KEY] = await put(storage, pod())
    await storage.delete(KEY)
    with pytest.raises(errors.StatusError) as caught:
        await bind(store)
    assert caught.value.code == 404


async def test_dry_run_reads_storage(env: Any) -> None:
    storage, cache, store = env
    cache.objects[KEY] = await put(storage, pod())
    await put(storage, pod(nodeName="other"))
    ctx = WriteContext(field_manager="test", dry_run=True)
    with pytest.raises(errors.StatusError) as caught:
        await bind_pod(None, store, "ns", "p", {"target": {"name": "n1"}}, ctx)  # type: ignore[arg-type]
    assert caught.value.code == 409
