"""Service backends → ready endpoints (from EndpointSlices), and the balancer.  Pure, no I/O.

A backend names a Service port by number or by name; the EndpointSlices of
that Service (label ``kubernetes.io/service-name``) name their ports after the
Service's port names (``""`` for an unnamed port) and carry the target port
numbers.  Endpoints count when ``conditions.ready`` is not false (unset means
ready, as the API documents).  ExternalName Services and Services with no such
port resolve to nothing: the proxy answers 503.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubeling.ingress.routing import Backend

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int

    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def service_port_name(service: Obj, port: int | str) -> str | None:
    """The name of the Service's TCP port ``port`` (number or name); None when it has none."""
    for entry in (service.get("spec") or {}).get("ports") or []:
        if (entry.get("protocol") or "TCP") != "TCP":
            continue
        if (isinstance(port, int) and entry.get("port") == port) or (
            isinstance(port, str) and entry.get("name") == port
        ):
            return str(entry.get("name") or "")
    return None


def ready_upstreams(service: Obj | None, slices: Iterable[Obj], port: int | str) -> tuple[Upstream, ...]:
    if service is None or (service.get("spec") or {}).get("type") == "ExternalName":
        return ()
    name = service_port_name(service, port)
    if name is None:
        return ()
    found: dict[Upstream, None] = {}
    for endpoint_slice in sorted(slices, key=lambda s: str(s["metadata"].get("name"))):
        if endpoint_slice.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            continue
        numbers = [
            p.get("port")
            for p in endpoint_slice.get("ports") or []
            if (p.get("name") or "") == name and (p.get("protocol") or "TCP") == "TCP" and p.get("port")
        ]
        if not numbers:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                found[Upstream(str(address), int(numbers[0]))] = None
    return tuple(found)


def resolve(
    backends: Iterable[Backend],
    services: dict[tuple[str, str], Obj],
    slices: dict[tuple[str, str], list[Obj]],
) -> dict[tuple[str, str, int | str], tuple[Upstream, ...]]:
    """Every backend's ready upstreams, keyed by :attr:`Backend.key`."""
    resolved = {}
    for backend in backends:
        key = (backend.namespace, backend.service)
        resolved[backend.key] = ready_upstreams(services.get(key), slices.get(key, []), backend.port)
    return resolved


@dataclass
class Balancer:
    """Round robin (or random) over a backend's upstreams; the position survives reloads."""

    mode: str = "round_robin"
    _counters: dict[tuple[str, str, int | str], Iterator[int]] = field(default_factory=dict)

    def order(self, key: tuple[str, str, int | str], upstreams: tuple[Upstream, ...]) -> list[Upstream]:
        """All upstreams, starting with the one to try first (the rest are for retries)."""
        if not upstreams:
            return []
        if self.mode == "random":
            first = random.randrange(len(upstreams))
        else:
            counter = self._counters.setdefault(key, itertools.count())
            first = next(counter) % len(upstreams)
        return [*upstreams[first:], *upstreams[:first]]
