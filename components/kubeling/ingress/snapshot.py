"""What the proxy routes by: one immutable routing table plus every backend's ready upstreams.

The controller builds a new Snapshot after changes and swaps it in with one
assignment; a request reads the current one once, at its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeling.ingress.backends import Upstream
from kubeling.ingress.routing import Backend, RoutingTable


@dataclass(frozen=True)
class Snapshot:
    table: RoutingTable = field(default_factory=RoutingTable)
    upstreams: dict[tuple[str, str, int | str], tuple[Upstream, ...]] = field(default_factory=dict)
    generation: int = 0

    def upstreams_of(self, backend: Backend) -> tuple[Upstream, ...]:
        return self.upstreams.get(backend.key, ())
