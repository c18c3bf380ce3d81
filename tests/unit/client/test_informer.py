"""Informer logic against a scripted fake API: paging, relist on 410, tombstones, handler failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.client.informer import HandlerError, Informer

PODS = Registry().by_kind("", "v1", "Pod")
Obj = dict[str, Any]


def make_pod(name: str, rv: int) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


class FakeAPI:
    """Lists come from ``lists`` (one per call, each a list of pages); watches from ``watches``."""

    def __init__(
        self, lists: list[list[list[Obj]]], watches: list[list[tuple[str, Obj]] | Exception]
    ) -> None:
        self.lists = lists
        self.watches = watches
        self.list_calls: list[dict[str, Any]] = []
        self.watch_versions: list[str | None] = []
        self._pages: list[list[Obj]] = []
        self._list_rv = 0

    async def list(self, resource: Any, **kwargs: Any) -> Obj:
        self.list_calls.append(kwargs)
        if kwargs["continue_token"] is None:
            self._pages = list(self.lists.pop(0))
            self._list_rv = 100 + len(self.list_calls)
        page = self._pages.pop(0)
        meta = {"resourceVersion": str(self._list_rv), "continue": "more" if self._pages else ""}
        return {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": [dict(o) for o in page]}

    async def watch(self, resource: Any, **kwargs: Any) -> AsyncIterator[tuple[str, Obj]]:
        self.watch_versions.append(kwargs["resource_version"])
        if not self.watches:
            await asyncio.Event().wait()  # nothing scripted: block like an idle stream
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        for event in script:
            yield event


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def add(self, obj: Obj) -> None:
        self.events.append(("add", obj["metadata"]["name"]))

    def update(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", new["metadata"]["name"], old["metadata"]["resourceVersion"]))

    def delete(self, obj: Obj) -> None:
        self.events.append(("delete", obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))


async def run_until(informer: Informer, condition: Any, timeout: float = 5.0) -> None:
    task = asyncio.create_task(informer.run())
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    finally:
        informer.stop()
        await task


async def test_pages_then_watch_then_relist_after_410_with_tombstones() -> None:
    api = FakeAPI(
        lists=[
            [[make_pod("a", 1)], [make_pod("b", 2)]],  # first list: two pages
            [[make_pod("a", 7), make_pod("c", 8)]],  # after 410: b vanished, c appeared
        ],
        watches=[
            [("MODIFIED", make_pod("a", 5)), ("BOOKMARK", {"metadata": {"resourceVersion": "6"}})],
            errors.gone("too old resource version: 6 (50)"),
        ],
    )
    informer = Informer(api, PODS, namespace="ns", page_size=1)
    recorder = Recorder()
    informer.add_event_handler(on_add=recorder.add, on_update=recorder.update, on_delete=recorder.delete)
    await run_until(informer, lambda: informer.relists == 2 and len(api.watch_versions) == 3)

    assert recorder.events == [
        ("add", "a"),
        ("add", "b"),
        ("update", "a", "1"),
        ("delete", "b", "2"),  # tombstone: the last state the store knew
        ("add", "c"),
        ("update", "a", "5"),
    ]
    # Watch from the list's RV, resume from the bookmark, then from the relist's RV.
    assert api.watch_versions == ["101", "6", "103"]
    assert [c["continue_token"] for c in api.list_calls] == [None, "more", None]
    assert all(c["limit"] == 1 and c["namespace"] == "ns" for c in api.list_calls)
    assert informer.has_synced()
    assert sorted(informer.store.keys()) == ["ns/a", "ns/c"]
    assert informer.store.get("ns/a")["kind"] == "Pod"  # list items get kind/apiVersion back


async def test_other_errors_back_off_then_relist() -> None:
    api = FakeAPI(lists=[[[make_pod("a", 1)]], [[]]], watches=[ConnectionResetError("boom")])
    informer = Informer(api, PODS, backoff_base=0.01)
    recorder = Recorder()
    informer.add_event_handler(on_delete=recorder.delete)
    await run_until(informer, lambda: informer.relists == 2)
    assert recorder.events == [("delete", "a", "1")]


async def test_failing_handler_stops_the_informer() -> None:
    api = FakeAPI(lists=[[[make_pod("a", 1)]]], watches=[])

    def broken(obj: Obj) -> None:
        raise KeyError("bug")

    informer = Informer(api, PODS)
    informer.add_event_handler(on_add=broken)
    with pytest.raises(HandlerError, match="bug"):
        await asyncio.wait_for(informer.run(), 5)
    assert not informer.has_synced()


async def test_resync_calls_update_with_the_same_object() -> None:
    api = FakeAPI(lists=[[[make_pod("a", 1)]]], watches=[])
    informer = Informer(api, PODS, resync_period=0.02)
    seen: list[bool] = []
    informer.add_event_handler(on_update=lambda old, new: seen.append(old is new))
    await run_until(informer, lambda: len(seen) >= 2)
    assert set(seen) == {True}


async def test_async_handlers_are_awaited_and_wait_synced() -> None:
    api = FakeAPI(lists=[[[make_pod("a", 1)]]], watches=[])
    informer = Informer(api, PODS)
    added: list[str] = []

    async def on_add(obj: Obj) -> None:
        await asyncio.sleep(0)
        added.append(obj["metadata"]["name"])

    informer.add_event_handler(on_add=on_add)
    assert await informer.wait_synced(timeout=0.01) is False
    task = asyncio.create_task(informer.run())
    assert await informer.wait_synced(timeout=5)
    assert added == ["a"]
    informer.stop()
    await task
