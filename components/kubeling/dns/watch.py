"""Informers on Services, EndpointSlices and Namespaces feeding :class:`ClusterRecords`.

One informer per resource across all namespaces (what CoreDNS's kubernetes
plugin watches, minus pods: ``pods insecure`` needs none).  Handlers only
hand objects to the record model, so the zone follows the cluster within a
watch event.
"""

from __future__ import annotations

import asyncio

from kubeling.client.informer import Informer, ListWatcher
from kubeling.client.paths import StaticResource
from kubeling.dns.records import ClusterRecords

SERVICES = StaticResource("", "v1", "services")
ENDPOINT_SLICES = StaticResource("discovery.k8s.io", "v1", "endpointslices")
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)


class ClusterWatch:
    def __init__(self, client: ListWatcher, records: ClusterRecords) -> None:
        self.records = records
        self.services = Informer(client, SERVICES)
        self.slices = Informer(client, ENDPOINT_SLICES)
        self.namespaces = Informer(client, NAMESPACES)
        self.services.add_event_handler(
            on_add=records.set_service,
            on_update=lambda old, new: records.set_service(new),
            on_delete=records.delete_service,
        )
        self.slices.add_event_handler(
            on_add=records.set_slice, on_update=records.update_slice, on_delete=records.delete_slice
        )
        self.namespaces.add_event_handler(
            on_add=records.set_namespace,
            on_update=lambda old, new: records.set_namespace(new),
            on_delete=records.delete_namespace,
        )
        self.informers = (self.services, self.slices, self.namespaces)

    def has_synced(self) -> bool:
        return all(informer.has_synced() for informer in self.informers)

    async def run(self) -> None:
        """Until cancelled; raises if an informer stops with an error."""
        tasks = [asyncio.create_task(informer.run()) for informer in self.informers]
        try:
            await asyncio.gather(*tasks)
        finally:
            for informer in self.informers:
                informer.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_synced(timeout) for i in self.informers))
        return all(results)
