"""``status.loadBalancer.ingress`` of the Ingresses this controller serves.

Where the address comes from, in upstream's order of flags:
``--publish-status-address`` (given addresses), else ``--publish-service``
(that Service's load-balancer ingress, else its externalIPs), else the nodes
the controller runs on: the ``status.hostIP`` of every running pod that
carries the same labels as this one (found by ``POD_NAME``/``POD_NAMESPACE``
from the downward API).  With several controller pods only the holder of the
election Lease writes (``app.py``), so pods do not fight over the field.

The writer runs after every routing reload and every ``--status-update-interval``;
it PATCHes only Ingresses whose status differs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]
INGRESSES = StaticResource("networking.k8s.io", "v1", "ingresses")
SERVICES = StaticResource("", "v1", "services")
PODS = StaticResource("", "v1", "pods")
# Labels that differ between the pods of one controller while it rolls out: not part of "same labels".
ROLLOUT_LABELS = frozenset({"pod-template-generation", "controller-revision-hash", "pod-template-hash"})


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def load_balancer_entries(addresses: Iterable[str]) -> list[Obj]:
    """Sorted, unique ``{"ip": ...}`` / ``{"hostname": ...}`` entries, as the API lists them."""
    return [{"ip": a} if _is_ip(a) else {"hostname": a} for a in sorted(set(addresses)) if a]


def service_addresses(service: Obj) -> list[str]:
    entries = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found = [str(e.get("ip") or e.get("hostname") or "") for e in entries]
    return [a for a in found if a] or [str(ip) for ip in (service.get("spec") or {}).get("externalIPs") or []]


def pod_host_addresses(pods: Iterable[Obj]) -> list[str]:
    return sorted(
        {
            str(p["status"]["hostIP"])
            for p in pods
            if (p.get("status") or {}).get("phase") == "Running" and (p.get("status") or {}).get("hostIP")
        }
    )


AddressSource = Callable[[], Awaitable[list[str]]]


def static_addresses(addresses: list[str]) -> AddressSource:
    async def source() -> list[str]:
        return list(addresses)

    return source


def published_service(client: RESTClient, namespace: str, name: str) -> AddressSource:
    async def source() -> list[str]:
        return service_addresses(await client.get(SERVICES, name=name, namespace=namespace))

    return source


def sibling_pods(client: RESTClient, namespace: str, pod_name: str) -> AddressSource:
    async def source() -> list[str]:
        pod = await client.get(PODS, name=pod_name, namespace=namespace)
        labels = (pod.get("metadata") or {}).get("labels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ROLLOUT_LABELS)
        pods = await client.list(PODS, namespace=namespace, label_selector=selector or None)
        return pod_host_addresses(pods.get("items") or [])

    return source


class StatusWriter:
    def __init__(
        self,
        client: RESTClient,
        *,
        addresses: AddressSource,
        owned: Callable[[], list[Obj]],
        interval: float = 60.0,
    ) -> None:
        self.client = client
        self.addresses = addresses
        self.owned = owned
        self.interval = interval
        self.wake = asyncio.Event()

    async def sync(self) -> int:
        """Write every owned Ingress's status that differs; returns how many were written."""
        desired = load_balancer_entries(await self.addresses())
        written = 0
        for ingress in self.owned():
            current = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if current == desired:
                continue
            meta = ingress["metadata"]
            try:
                await self.client.patch(
                    INGRESSES,
                    {"status": {"loadBalancer": {"ingress": desired}}},
                    name=meta["name"],
                    namespace=meta["namespace"],
                    subresource="status",
                )
            except StatusError as exc:
                if exc.code != 404:  # a deleted Ingress needs no status
                    raise
            written += 1
        return written

    async def run(self) -> None:
        """Until cancelled: sync when woken (after a reload) and every ``interval``."""
        while True:
            self.wake.clear()
            try:
                await self.sync()
            except (StatusError, OSError) as exc:
                log.warning("updating Ingress status failed: %s", exc)
            try:
                async with asyncio.timeout(self.interval):
                    await self.wake.wait()
            except TimeoutError:
                pass
