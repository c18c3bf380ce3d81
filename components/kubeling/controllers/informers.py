"""Shared informers: one list+watch per resource, however many controllers read it.

Controllers ask the factory for an informer while they are being built
(``factory.informer(PODS)``); the factory hands every caller the same
:class:`~kubeling.client.informer.Informer`, so the pod cache and its watch
exist once per process.  Indexers are added on request and may be shared by
name.  ``start()`` runs every informer asked for so far (call it again after
building more controllers); ``wait_synced()`` returns once each has finished
its first list.  An informer whose handler raised is a bug: ``run()``
surfaces it instead of carrying on with a stale cache.
"""

from __future__ import annotations

import asyncio
import logging

from kubeling.client.informer import Informer, ListWatcher
from kubeling.client.paths import ResourceLike
from kubeling.client.store import IndexFunc

log = logging.getLogger(__name__)


class InformerFactory:
    def __init__(self, client: ListWatcher, *, resync_period: float = 0.0) -> None:
        self.client = client
        self.resync_period = resync_period
        self._informers: dict[tuple[str, str], Informer] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def informer(self, resource: ResourceLike, *, indexers: dict[str, IndexFunc] | None = None) -> Informer:
        key = (resource.group, resource.plural)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, resource, resync_period=self.resync_period)
            self._informers[key] = informer
        for name, func in (indexers or {}).items():
            # Several controllers may ask for the same index by name: register it once.
            try:
                informer.store.add_indexer(name, func)
            except ValueError:
                pass
        return informer

    def start(self) -> None:
        for key, informer in self._informers.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(informer.run(), name=f"informer-{key[1]}")

    async def wait_synced(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_synced(timeout) for i in self._informers.values()))
        return all(results)

    async def run(self) -> None:
        """Start every informer and wait; raises the first informer failure (a handler bug)."""
        self.start()
        if not self._tasks:
            await asyncio.Event().wait()
        done, _ = await asyncio.wait(self._tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def stop(self) -> None:
        for informer in self._informers.values():
            informer.stop()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
