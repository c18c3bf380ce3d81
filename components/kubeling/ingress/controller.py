"""Informers → routing snapshots.

Five informers (Ingresses, IngressClasses, Services, EndpointSlices and Secrets
of type ``kubernetes.io/tls``, all namespaces).  Their handlers only set a
"changed" flag; one task rebuilds the whole snapshot when it is set, at most
once per ``sync_period``, then swaps it in and wakes the status writer.  A
full rebuild is cheap next to a request round trip and cannot drift the way
incremental updates can.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from kubeling.client.informer import Informer, ListWatcher
from kubeling.client.paths import StaticResource
from kubeling.ingress import backends, routing
from kubeling.ingress.classes import class_filter
from kubeling.ingress.config import IngressConfig
from kubeling.ingress.snapshot import Snapshot
from kubeling.ingress.tls import TLS_SECRET_TYPE

log = logging.getLogger(__name__)

Obj = dict[str, Any]
INGRESSES = StaticResource("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = StaticResource("networking.k8s.io", "v1", "ingressclasses", namespaced=False)
SERVICES = StaticResource("", "v1", "services")
ENDPOINT_SLICES = StaticResource("discovery.k8s.io", "v1", "endpointslices")
SECRETS = StaticResource("", "v1", "secrets")


class IngressController:
    def __init__(
        self,
        client: ListWatcher,
        config: IngressConfig,
        *,
        on_reload: Callable[[Snapshot], None] = lambda snapshot: None,
    ) -> None:
        self.config = config
        self.on_reload = on_reload
        self.ingresses = Informer(client, INGRESSES)
        self.classes = Informer(client, INGRESS_CLASSES)
        self.services = Informer(client, SERVICES)
        self.slices = Informer(client, ENDPOINT_SLICES)
        self.secrets = Informer(client, SECRETS, field_selector=f"type={TLS_SECRET_TYPE}")
        self.informers = (self.ingresses, self.classes, self.services, self.slices, self.secrets)
        for informer in self.informers:
            informer.add_event_handler(
                on_add=self._mark, on_update=lambda old, new: self._mark(new), on_delete=self._mark
            )
        self.snapshot = Snapshot()
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()

    def _mark(self, _: Obj) -> None:
        self._changed.set()

    def current(self) -> Snapshot:
        return self.snapshot

    def has_synced(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self.secrets.store.get_by(namespace=namespace, name=name)

    def owned_ingresses(self) -> list[Obj]:
        owns = class_filter(
            self.classes.store.list(),
            controller_class=self.config.controller_class,
            annotation_class=self.config.ingress_class,
            watch_without_class=self.config.watch_ingress_without_class,
        ).owns
        return [ingress for ingress in self.ingresses.store.list() if owns(ingress)]

    def rebuild(self) -> Snapshot:
        table = routing.build(self.owned_ingresses())
        services = {
            (s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self.services.store.list()
        }
        slices: dict[tuple[str, str], list[Obj]] = defaultdict(list)
        for endpoint_slice in self.slices.store.list():
            service = (endpoint_slice["metadata"].get("labels") or {}).get(backends.SERVICE_NAME_LABEL)
            if service:
                slices[(endpoint_slice["metadata"]["namespace"], service)].append(endpoint_slice)
        upstreams = backends.resolve(table.backends(), services, slices)
        self.snapshot = Snapshot(table, upstreams, self.snapshot.generation + 1)
        self.on_reload(self.snapshot)
        return self.snapshot

    async def run(self) -> None:
        """Until cancelled; raises if an informer stops with an error."""
        tasks = [asyncio.create_task(informer.run()) for informer in self.informers]
        tasks.append(asyncio.create_task(self._rebuild_loop(), name="ingress-rebuild"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for informer in self.informers:
                informer.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _rebuild_loop(self) -> None:
        await asyncio.gather(*(informer.wait_synced() for informer in self.informers))
        while True:
            self._changed.clear()
            snapshot = self.rebuild()
            log.info(
                "routing reloaded (generation %d: %d backends)", snapshot.generation, len(snapshot.upstreams)
            )
            self._ready.set()
            await asyncio.sleep(self.config.sync_period)
            await self._changed.wait()
