"""The routing table: Ingress rules → (host, path) → Service backend.  Pure, no I/O.

Matching follows the networking.k8s.io/v1 spec as ingress-nginx applies it:

- Hosts: an exact host beats a wildcard (``*.example.com`` matches exactly one
  more label: ``a.example.com``, not ``example.com`` nor ``a.b.example.com``),
  which beats the rules that name no host.  The first of those groups with a
  matching path wins.
- Paths: ``Exact`` matches the whole path (case-sensitive); ``Prefix`` matches
  by ``/``-separated elements (``/foo`` matches ``/foo`` and ``/foo/bar``, not
  ``/foobar``); ``ImplementationSpecific`` is treated as ``Prefix``.  The
  longest path wins; at equal length ``Exact`` beats ``Prefix``.
- Nothing matched: the ``defaultBackend`` (of the oldest Ingress that has one),
  else no backend (the proxy answers 404).
- The same host + path + type in two Ingresses: the oldest Ingress keeps it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


class PathType(enum.StrEnum):
    EXACT = "Exact"
    PREFIX = "Prefix"
    IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"


@dataclass(frozen=True)
class Backend:
    """A Service port an Ingress sends traffic to; ``port`` is a number or a port name."""

    namespace: str
    service: str
    port: int | str
    ingress: str = ""  # the Ingress's name, for metrics labels

    @property
    def key(self) -> tuple[str, str, int | str]:
        return (self.namespace, self.service, self.port)


@dataclass(frozen=True)
class PathRule:
    path: str
    path_type: PathType
    backend: Backend

    @property
    def elements(self) -> tuple[str, ...]:
        return _elements(self.path)

    def matches(self, path: str) -> bool:
        if self.path_type is PathType.EXACT:
            return path == self.path
        prefix = self.elements
        return _elements(path)[: len(prefix)] == prefix

    def rank(self) -> tuple[int, int]:
        """Larger ranks first: the longest path, then Exact before Prefix."""
        return (len(self.path.rstrip("/")) or 1, 1 if self.path_type is PathType.EXACT else 0)


def _elements(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


@dataclass(frozen=True)
class TLSRef:
    namespace: str
    secret: str


@dataclass
class RoutingTable:
    exact_hosts: dict[str, list[PathRule]] = field(default_factory=dict)
    wildcard_hosts: dict[str, list[PathRule]] = field(default_factory=dict)  # keyed by ".example.com"
    any_host: list[PathRule] = field(default_factory=list)
    default_backend: Backend | None = None
    tls: dict[str, TLSRef] = field(default_factory=dict)  # host or "*.example.com" → Secret

    def route(self, host: str, path: str) -> Backend | None:
        host = normalize_host(host)
        for rules in self._host_groups(host):
            for rule in rules:
                if rule.matches(path or "/"):
                    return rule.backend
        return self.default_backend

    def _host_groups(self, host: str) -> Iterable[list[PathRule]]:
        if host in self.exact_hosts:
            yield self.exact_hosts[host]
        _, dot, parent = host.partition(".")
        if dot and f".{parent}" in self.wildcard_hosts:
            yield self.wildcard_hosts[f".{parent}"]
        yield self.any_host

    def certificate_for(self, server_name: str) -> TLSRef | None:
        host = normalize_host(server_name)
        if host in self.tls:
            return self.tls[host]
        _, dot, parent = host.partition(".")
        return self.tls.get(f"*.{parent}") if dot else None

    def backends(self) -> set[Backend]:
        found = {rule.backend for rule in self.any_host}
        for groups in (self.exact_hosts, self.wildcard_hosts):
            for rules in groups.values():
                found.update(rule.backend for rule in rules)
        if self.default_backend is not None:
            found.add(self.default_backend)
        return found


def normalize_host(host: str) -> str:
    """``Example.COM:8443`` → ``example.com`` (the Host header's port and a trailing dot dropped)."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal keeps its colons
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def _creation_order(ingress: Obj) -> tuple[str, str, str]:
    meta = ingress.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or ""), str(meta.get("name")))


def _backend_of(spec: Any, namespace: str, ingress: str) -> Backend | None:
    """A Service backend; resource backends (and malformed ones) are skipped."""
    service = spec.get("service") if isinstance(spec, dict) else None
    if not isinstance(service, dict) or not service.get("name"):
        return None
    port = service.get("port") or {}
    value: int | str | None = port.get("number") if port.get("number") else port.get("name")
    if value is None or value == "":
        return None
    return Backend(namespace, str(service["name"]), value, ingress)


def build(ingresses: Iterable[Obj]) -> RoutingTable:
    """The table of these Ingresses (already filtered to this controller's class)."""
    table = RoutingTable()
    seen: set[tuple[str, str, str]] = set()
    for ingress in sorted(ingresses, key=_creation_order):
        meta = ingress.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
        spec = ingress.get("spec") or {}
        default = _backend_of(spec.get("defaultBackend"), namespace, name)
        if default is not None and table.default_backend is None:
            table.default_backend = default
        rule_hosts: list[str] = []
        for rule in spec.get("rules") or []:
            host = normalize_host(str(rule.get("host") or ""))
            rule_hosts.append(host)
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = _backend_of(path.get("backend"), namespace, name)
                if backend is None:
                    continue
                value = str(path.get("path") or "/")
                path_type = _path_type(path.get("pathType"))
                key = (host, value, path_type.value)
                if key in seen:
                    continue
                seen.add(key)
                _group(table, host).append(PathRule(value, path_type, backend))
        for tls in spec.get("tls") or []:
            secret = tls.get("secretName")
            if not secret:
                continue
            # No hosts: upstream applies the certificate to the Ingress's own rule hosts.
            for host in tls.get("hosts") or [h for h in rule_hosts if h]:
                table.tls.setdefault(normalize_host(str(host)), TLSRef(namespace, str(secret)))
    for rules in (table.any_host, *table.exact_hosts.values(), *table.wildcard_hosts.values()):
        rules.sort(key=PathRule.rank, reverse=True)
    return table


def _path_type(value: Any) -> PathType:
    try:
        kind = PathType(value)
    except ValueError:
        kind = PathType.PREFIX
    return PathType.PREFIX if kind is PathType.IMPLEMENTATION_SPECIFIC else kind


def _group(table: RoutingTable, host: str) -> list[PathRule]:
    if not host:
        return table.any_host
    if host.startswith("*."):
        return table.wildcard_hosts.setdefault(host[1:], [])
    return table.exact_hosts.setdefault(host, [])
