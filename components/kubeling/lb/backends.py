"""Which apiservers are healthy and which one a new connection tries first (no I/O here).

A backend turns unhealthy after ``fall`` failed probes in a row and healthy
again after ``rise`` passes in a row (haproxy's names); every backend starts
healthy so the first connections need not wait for a probe.  New connections
go round-robin over the healthy backends; the unhealthy ones are tried last,
so a wrong verdict never refuses a connection that could have worked.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backend:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_backend(value: str, default_port: int = 6443) -> Backend:
    """``10.0.0.1``, ``10.0.0.1:6443``, ``[fd00::1]:6443`` or ``name:6443`` → a Backend."""
    text = value.strip()
    if not text:
        raise ValueError("empty backend")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port = text, str(default_port)
    else:
        host, _, port = text.partition(":")
        port = port or str(default_port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"backend {value!r}: port must be 1-65535")
    if ":" in host:
        ipaddress.IPv6Address(host)
    return Backend(host, int(port))


@dataclass
class BackendState:
    backend: Backend
    healthy: bool = True
    failures: int = 0  # failed probes in a row
    passes: int = 0  # passed probes in a row
    last_error: str = ""


@dataclass
class Pool:
    """The backends and their health; ``record`` returns whether a verdict flipped."""

    backends: list[Backend]
    rise: int = 1
    fall: int = 2
    states: dict[Backend, BackendState] = field(init=False)
    _next: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.backends:
            raise ValueError("at least one backend is needed")
        if self.rise < 1 or self.fall < 1:
            raise ValueError("rise and fall must be at least 1")
        self.states = {b: BackendState(b) for b in self.backends}

    def record(self, backend: Backend, error: str | None) -> bool:
        state = self.states[backend]
        if error is None:
            state.passes, state.failures, state.last_error = state.passes + 1, 0, ""
            if not state.healthy and state.passes >= self.rise:
                state.healthy = True
                return True
            return False
        state.failures, state.passes, state.last_error = state.failures + 1, 0, error
        if state.healthy and state.failures >= self.fall:
            state.healthy = False
            return True
        return False

    def healthy(self) -> list[Backend]:
        return [b for b in self.backends if self.states[b].healthy]

    def order(self) -> list[Backend]:
        """The backends a new connection tries, in order: healthy round-robin, then the rest."""
        up = self.healthy()
        down = [b for b in self.backends if not self.states[b].healthy]
        if up:
            start = self._next % len(up)
            self._next += 1
            up = up[start:] + up[:start]
        return up + down
