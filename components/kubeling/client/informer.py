"""Informers: one resource kept in a local :class:`Store` by list + watch.

The loop, one task per informer::

    list (paged with limit/continue)  ->  store.replace(items)  ->  synced
      \\-> watch from the list's resourceVersion (with bookmarks)
             stream ends normally  -> watch again from the last seen resourceVersion
             410 Gone              -> relist at once
             any other error       -> back off (exponential, jittered), relist

A relist replaces the store's contents: new objects give ``on_add``, known
ones ``on_update(old, new)``, and objects that vanished while we were not
watching give ``on_delete`` with the last state the store knew (a tombstone),
so no delete is ever missed.  An optional resync task calls
``on_update(obj, obj)`` for every cached object every ``resync_period``
seconds, which lets controllers re-check the world even with no changes.

Handlers may be plain functions or coroutines; they run in the informer's
task, in event order.  A handler that raises stops the informer: ``run()``
raises :class:`HandlerError` rather than hiding a bug.  The objects handed to
handlers are the store's own: treat them as read-only and deep-copy before
changing one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from kubeling.api.errors import StatusError
from kubeling.client.flowcontrol import backoff_delay
from kubeling.client.paths import ResourceLike
from kubeling.client.store import IndexFunc, Obj, Store

log = logging.getLogger(__name__)

AddHandler = Callable[[Obj], Awaitable[None] | None]
UpdateHandler = Callable[[Obj, Obj], Awaitable[None] | None]
DeleteHandler = Callable[[Obj], Awaitable[None] | None]


class ListWatcher(Protocol):
    """The two verbs an informer needs; :class:`kubeling.client.rest.RESTClient` has them."""

    async def list(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = ...,
        label_selector: str | None = ...,
        field_selector: str | None = ...,
        limit: int | None = ...,
        continue_token: str | None = ...,
    ) -> Obj: ...

    def watch(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = ...,
        resource_version: str | None = ...,
        timeout_seconds: int | None = ...,
        allow_bookmarks: bool = ...,
        label_selector: str | None = ...,
        field_selector: str | None = ...,
    ) -> AsyncIterator[tuple[str, Obj]]: ...


class HandlerError(Exception):
    """An event handler raised; the informer stops and ``run()`` raises this."""


class Informer:
    def __init__(
        self,
        client: ListWatcher,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float = 0.0,
        page_size: int = 500,
        watch_timeout: tuple[int, int] = (300, 600),
        indexers: dict[str, IndexFunc] | None = None,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.store = Store(indexers=indexers)
        self.relists = 0  # how many lists ran (1 = only the initial one); for metrics and tests
        self._resource_version = ""
        self._synced = asyncio.Event()
        self._adds: list[AddHandler] = []
        self._updates: list[UpdateHandler] = []
        self._deletes: list[DeleteHandler] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- public API --------------------------------------------------------------

    def add_event_handler(
        self,
        *,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        """Register handlers; add them before ``run()`` so none misses the initial list."""
        if on_add:
            self._adds.append(on_add)
        if on_update:
            self._updates.append(on_update)
        if on_delete:
            self._deletes.append(on_delete)

    def has_synced(self) -> bool:
        """True once the first list is in the store and its handlers have run."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    @property
    def last_resource_version(self) -> str:
        return self._resource_version

    async def run(self) -> None:
        """List and watch until :meth:`stop`; raises :class:`HandlerError` if a handler fails."""
        if self._tasks:
            raise RuntimeError("informer is already running")
        self._stopping = False
        self._tasks = [asyncio.create_task(self._list_watch_loop(), name=f"informer-{self.resource.plural}")]
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop()))
        try:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []

    def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()

    # -- list and watch ----------------------------------------------------------

    async def _list_watch_loop(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._list()
                failures = 0
                await self._watch()
            except (HandlerError, asyncio.CancelledError):
                raise
            except StatusError as exc:
                if exc.code == 410:
                    log.info("%s: watch expired (%s); relisting", self.resource.plural, exc)
                    continue
                failures = await self._back_off(exc, failures)
            except Exception as exc:
                failures = await self._back_off(exc, failures)

    async def _back_off(self, exc: Exception, failures: int) -> int:
        delay = backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap)
        log.warning("%s: list/watch failed (%s); relisting in %.1fs", self.resource.plural, exc, delay)
        await asyncio.sleep(delay)
        return failures + 1

    async def _list(self) -> None:
        items: list[Obj] = []
        token: str | None = None
        resource_version = ""
        while True:
            page = await self.client.list(
                self.resource,
                namespace=self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_token=token,
            )
            meta = page.get("metadata") or {}
            # Every page of one paged list is a snapshot at the first page's revision.
            resource_version = resource_version or meta.get("resourceVersion", "")
            kind = str(page.get("kind", "")).removesuffix("List")
            api_version = page.get("apiVersion", "")
            for item in page.get("items") or []:
                # List items omit kind/apiVersion; handlers get the same shape as from a watch.
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                items.append(item)
            token = meta.get("continue") or None
            if not token:
                break
        self.relists += 1
        added, updated, deleted = self.store.replace(items)
        self._resource_version = resource_version
        for obj in deleted:
            await self._call(self._deletes, obj)
        for obj in added:
            await self._call(self._adds, obj)
        for old, new in updated:
            await self._call(self._updates, old, new)
        self._synced.set()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started, events = loop.time(), 0
            stream = self.client.watch(
                self.resource,
                namespace=self.namespace,
                resource_version=self._resource_version,
                timeout_seconds=random.randint(*self.watch_timeout),
                allow_bookmarks=True,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
            )
            async for kind, obj in stream:
                events += 1
                await self._apply(kind, obj)
            if events == 0 and loop.time() - started < 1.0:
                # A server that closes streams at once must not make us spin.
                await asyncio.sleep(1.0)

    async def _apply(self, kind: str, obj: Obj) -> None:
        resource_version = (obj.get("metadata") or {}).get("resourceVersion", "")
        if kind == "ADDED" or kind == "MODIFIED":
            old = self.store.upsert(obj)
            if old is None:
                await self._call(self._adds, obj)
            else:
                await self._call(self._updates, old, obj)
        elif kind == "DELETED":
            self.store.delete(obj)
            await self._call(self._deletes, obj)  # the event carries the final state
        elif kind != "BOOKMARK":
            log.warning("%s: unknown watch event type %r", self.resource.plural, kind)
            return
        if resource_version:
            self._resource_version = resource_version

    async def _resync_loop(self) -> None:
        await self._synced.wait()
        while True:
            await asyncio.sleep(self.resync_period)
            for obj in self.store.list():
                await self._call(self._updates, obj, obj)

    async def _call(self, handlers: list[Callable[..., Any]], *args: Obj) -> None:
        for handler in handlers:
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                raise HandlerError(f"{self.resource.plural} event handler {handler!r} failed: {exc}") from exc
