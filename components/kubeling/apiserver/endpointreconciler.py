"""The ``default/kubernetes`` Service's endpoints: every live API server's advertised address.

The Service has no selector, so no controller fills its endpoints: each API
server does, as upstream's ``lease`` endpoint reconciler.  Every server keeps
a Lease of its own in ``kube-system`` (renewed every 10 s, 15 s long, carrying
its address) and rewrites the Endpoints and the EndpointSlice named
``kubernetes`` from the Leases still held.  A stopped server drops out once
its Lease expires; a server that stops cleanly removes itself at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kubeling.api import errors
from kubeling.apiserver.store import DeleteOptions, WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

Obj = dict[str, Any]

LEASE_NAMESPACE = "kube-system"
# The lease marks itself as an API server's, as upstream's identity leases do.
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
ADDRESS_ANNOTATION = "kubeling.io/advertise-address"
RENEW_INTERVAL = 10.0
LEASE_SECONDS = 15
SERVICE = "kubernetes"
CONTEXT = WriteContext(user="system:apiserver", field_manager="kube-apiserver")


def default_route_address() -> str:
    """The address this machine uses to reach others (that of the default-route interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: connect() on UDP sends nothing
            return str(probe.getsockname()[0])
        except OSError:
            return ""


def advertised_address(advertise_address: str, bind_address: str) -> str:
    """What other machines (and pods) should use, as upstream picks it; "" when only loopback."""
    address = advertise_address
    if not address:
        address = bind_address if bind_address not in ("", "0.0.0.0", "::") else default_route_address()
    if not address or ipaddress.ip_address(address).is_loopback:
        return ""
    return address


def lease_name(address: str, port: int) -> str:
    digest = hashlib.sha256(f"{address}:{port}".encode()).hexdigest()[:16]
    return f"apiserver-{digest}"


def _rfc3339_micro(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def live_addresses(leases: list[Obj], now: float) -> list[str]:
    """Addresses ("ip:port") of API server leases that have not expired, sorted."""
    live: set[str] = set()
    for lease in leases:
        meta, spec = lease.get("metadata") or {}, lease.get("spec") or {}
        if (meta.get("labels") or {}).get(IDENTITY_LABEL) != "kube-apiserver":
            continue
        address = (meta.get("annotations") or {}).get(ADDRESS_ANNOTATION)
        renewed = _parse_time(spec.get("renewTime"))
        if address and renewed + float(spec.get("leaseDurationSeconds") or 0) > now:
            live.add(address)
    return sorted(live)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def endpoints_for(addresses: list[str]) -> Obj:
    """The Endpoints object; upstream requires one port shared by all servers (the first wins)."""
    # The EndpointSlice is written alongside: the mirroring controller must leave this one be.
    metadata = {"name": SERVICE, "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}
    if not addresses:
        return {"metadata": metadata, "subsets": []}
    port = _split(addresses[0])[1]
    ips = [_split(a)[0] for a in addresses if _split(a)[1] == port]
    ports = [{"name": "https", "port": port, "protocol": "TCP"}]
    return {"metadata": metadata, "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": ports}]}


def endpoint_slice_for(addresses: list[str]) -> Obj:
    subsets = endpoints_for(addresses)["subsets"]
    ips = [a["ip"] for a in subsets[0]["addresses"]] if subsets else []
    family = "IPv6" if ips and ":" in ips[0] else "IPv4"
    return {
        "metadata": {"name": SERVICE, "labels": {"kubernetes.io/service-name": SERVICE}},
        "addressType": family,
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
        "ports": subsets[0]["ports"] if subsets else [],
    }


class EndpointReconciler:
    def __init__(self, server: APIServer, address: str, port: int) -> None:
        self.server, self.address, self.port = server, address, port
        self.name = lease_name(address, port)
        self.holder = f"{self.name}_{socket.gethostname()}"

    async def run(self) -> None:
        while True:
            try:
                await self.renew()
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling the kubernetes Service's endpoints failed; retrying")
            await asyncio.sleep(RENEW_INTERVAL)

    async def renew(self) -> None:
        now = _rfc3339_micro(time.time())
        store = self.server.store("coordination.k8s.io", "v1", "leases")
        wanted_meta = {
            "name": self.name,
            "labels": {IDENTITY_LABEL: "kube-apiserver"},
            "annotations": {ADDRESS_ANNOTATION: f"{self.address}:{self.port}"},
        }

        def fresh() -> Obj:
            return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": dict(wanted_meta)}

        def mutate(lease: Obj) -> Obj:
            meta = lease["metadata"]
            meta.setdefault("labels", {}).update(wanted_meta["labels"])
            meta.setdefault("annotations", {}).update(wanted_meta["annotations"])
            lease["spec"] = {
                **(lease.get("spec") or {}),
                "holderIdentity": self.holder,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": now,
            }
            return lease

        await store.guaranteed_update(LEASE_NAMESPACE, self.name, mutate, CONTEXT, create_if_missing=fresh)

    async def reconcile(self, *, without_self: bool = False) -> None:
        leases = self.server.store("coordination.k8s.io", "v1", "leases").snapshot(LEASE_NAMESPACE)
        addresses = live_addresses(leases, time.time())
        mine = f"{self.address}:{self.port}"
        if without_self:
            addresses = [a for a in addresses if a != mine]
        elif mine not in addresses:
            addresses = sorted([*addresses, mine])  # our renewal may not be in the cache yet
        await self._write("", "v1", "endpoints", endpoints_for(addresses), ("subsets",))
        await self._write(
            "discovery.k8s.io", "v1", "endpointslices", endpoint_slice_for(addresses),
            ("addressType", "endpoints", "ports"),
        )  # fmt: skip

    async def _write(
        self, group: str, version: str, plural: str, wanted: Obj, fields: tuple[str, ...]
    ) -> None:
        store = self.server.store(group, version, plural)

        def mutate(current: Obj) -> Obj:
            if all(current.get(f) == wanted.get(f) for f in fields) and all(
                (current["metadata"].get("labels") or {}).get(k) == v
                for k, v in wanted["metadata"]["labels"].items()
            ):
                raise _Unchanged
            current["metadata"].setdefault("labels", {}).update(wanted["metadata"]["labels"])
            current.update({f: wanted[f] for f in fields})
            return current

        with contextlib.suppress(_Unchanged):
            await store.guaranteed_update(
                "default",
                SERVICE,
                mutate,
                CONTEXT,
                create_if_missing=lambda: {"metadata": {"name": SERVICE}},
                cached_first=True,
            )

    async def remove_self(self) -> None:
        """On a clean stop: leave the endpoints and give the Lease up."""
        with contextlib.suppress(errors.StatusError):
            await self.reconcile(without_self=True)
        with contextlib.suppress(errors.StatusError):
            await self.server.store("coordination.k8s.io", "v1", "leases").delete(
                LEASE_NAMESPACE, self.name, DeleteOptions(), CONTEXT
            )


class _Unchanged(Exception):
    """Nothing to write (raised out of a guaranteed_update mutation)."""
