"""The iptables proxier: informer events in, one ``iptables-restore`` per sync out.

Event handlers only translate objects (:mod:`servicemodel`) and, when the
translation differs from what they had, note the Service's ``ns/name`` as
changed and ask for a sync.  :meth:`Proxier.run` is upstream's bounded
frequency runner: a sync starts at most once per ``min_sync_period`` (changes
arriving meanwhile are batched), and at least once per ``sync_period``.

A sync snapshots the state, reads the tables (``iptables-save``: existing
chains, missing jump rules), builds the text (:func:`rules.build_rules`) and
restores it.  The top-level chains are rewritten every time; the chains of
services that did not change are left out (a partial sync), except on the
first sync, after a failure, and once an hour, as upstream — a full restore
of 1,000 services x 10 endpoints takes seconds with iptables-nft
(``bench/proxy_dns.py``), so the periodic ``sync_period`` syncs are partial
too: they re-insert missing jump rules and delete stale chains.  On large
clusters (over 1,000 endpoints) the ``iptables-save`` behind those runs at
most once per ``sync_period``.  After a success, stale UDP conntrack entries
are flushed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeling.proxy import conntrack
from kubeling.proxy.healthz import ProxierHealth
from kubeling.proxy.iptables import IPTables, IPTablesError, missing_jumps
from kubeling.proxy.metrics import ProxyMetrics
from kubeling.proxy.rules import RuleOptions, RuleSet, build_rules
from kubeling.proxy.servicemodel import (
    Endpoint,
    ServicePort,
    ServicePortName,
    categorize,
    service_ports,
    slice_endpoints,
    slice_service_name,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
LARGE_CLUSTER_ENDPOINTS = 1000
FULL_SYNC_PERIOD = 3600.0


@dataclass
class ProxierOptions:
    node_name: str
    cluster_cidr: str = ""
    masquerade_all: bool = False
    masquerade_mark: str = "0x4000"
    nodeport_addresses: list[str] = field(default_factory=list)  # CIDRs or "primary"; empty: all
    localhost_nodeports: bool = True
    min_sync_period: float = 1.0
    sync_period: float = 30.0


@dataclass
class SyncResult:
    ok: bool
    full: bool
    seconds: float
    rules: RuleSet | None = None


class Proxier:
    def __init__(
        self,
        options: ProxierOptions,
        *,
        iptables: IPTables | None = None,
        health: ProxierHealth | None = None,
        metrics: ProxyMetrics | None = None,
    ) -> None:
        self.options = options
        self.iptables = iptables or IPTables()
        self.health = health or ProxierHealth(2 * options.sync_period)
        self.metrics = metrics or ProxyMetrics()
        self.services: dict[str, dict[ServicePortName, ServicePort]] = {}
        self.slices: dict[str, dict[str, Obj]] = {}  # service ns/name -> slice name -> slice
        self.endpoints: dict[str, dict[ServicePortName, list[Endpoint]]] = {}
        self.node: Obj | None = None
        self.changed: set[str] = set()
        self.need_full_sync = True
        self.programmed: dict[ServicePortName, conntrack.Programmed] = {}
        self.last_stale_cleanup = 0.0
        self.last_full_sync = 0.0
        self.syncs = 0  # successful syncs, for tests and logs
        self._wake = asyncio.Event()

    # -- event handlers ------------------------------------------------------------------

    def on_service(self, service: Obj) -> None:
        meta = service.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        ports = {port.name: port for port in service_ports(service)}
        if ports != self.services.get(key, {}):
            if ports:
                self.services[key] = ports
            else:
                self.services.pop(key, None)
            self.metrics.service_changes.inc()
            self._changed(key)

    def on_service_delete(self, service: Obj) -> None:
        meta = service.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        if self.services.pop(key, None) is not None:
            self.metrics.service_changes.inc()
            self._changed(key)

    def on_slice(self, endpoint_slice: Obj) -> None:
        self._update_slice(endpoint_slice, deleted=False)

    def on_slice_delete(self, endpoint_slice: Obj) -> None:
        self._update_slice(endpoint_slice, deleted=True)

    def on_node(self, node: Obj | None) -> None:
        self.node = node
        self.health.set_node(node)

    def _update_slice(self, endpoint_slice: Obj, *, deleted: bool) -> None:
        key = slice_service_name(endpoint_slice)
        if key is None:
            return
        name = (endpoint_slice.get("metadata") or {}).get("name", "")
        slices = self.slices.setdefault(key, {})
        if deleted:
            slices.pop(name, None)
        else:
            slices[name] = endpoint_slice
        endpoints = slice_endpoints(slices.values(), self.options.node_name)
        if not slices:
            del self.slices[key]
        if endpoints != self.endpoints.get(key, {}):
            if endpoints:
                self.endpoints[key] = endpoints
            else:
                self.endpoints.pop(key, None)
            self.metrics.endpoint_changes.inc()
            self._changed(key)

    def _changed(self, key: str) -> None:
        self.changed.add(key)
        self.request_sync()

    def request_sync(self) -> None:
        if not self._wake.is_set():
            self.health.queued_update()
            self.metrics.last_queued.set(time.time())
        self._wake.set()

    # -- the runner ----------------------------------------------------------------------

    async def run(self) -> None:
        """Sync on demand (at most once per min_sync_period) and at least once per sync_period."""
        loop = asyncio.get_running_loop()
        last_start = -float("inf")
        self.request_sync()
        while True:
            try:
                async with asyncio.timeout(max(0.0, last_start + self.options.sync_period - loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                self.request_sync()
            delay = last_start + self.options.min_sync_period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # changes arriving meanwhile join this sync
            self._wake.clear()
            last_start = loop.time()
            result = await self.sync()
            if not result.ok:
                # Retry soon (in full) rather than waiting out the whole sync period.
                loop.call_later(max(self.options.min_sync_period, 1.0), self.request_sync)

    # -- one sync ------------------------------------------------------------------------

    async def sync(self) -> SyncResult:
        started = time.monotonic()
        full = self.need_full_sync or started - self.last_full_sync >= FULL_SYNC_PERIOD
        changed, self.changed = self.changed, set()
        services = {k: v for ports in self.services.values() for k, v in ports.items()}
        endpoints = {k: v for eps in self.endpoints.values() for k, v in eps.items()}
        unchanged = set() if full else set(self.services) - changed
        endpoint_count = sum(len(v) for v in endpoints.values())
        try:
            existing: set[str] | None = None
            jumps = []
            large = endpoint_count > LARGE_CLUSTER_ENDPOINTS
            if full or not large or time.monotonic() - self.last_stale_cleanup > self.options.sync_period:
                saved = await self.iptables.save()
                existing = set(saved.get("nat").chains) if "nat" in saved else set()
                jumps = missing_jumps(saved)
            options = RuleOptions(
                cluster_cidr=self.options.cluster_cidr,
                masquerade_all=self.options.masquerade_all,
                masquerade_mark=self.options.masquerade_mark,
                nodeport_ips=await self._nodeport_ips(),
                localhost_nodeports=self.options.localhost_nodeports,
            )
            ruleset = build_rules(
                services,
                endpoints,
                options,
                existing_nat_chains=existing,
                unchanged=unchanged,
                missing_jumps=jumps,
            )
            await self.iptables.restore(ruleset.text)
        except IPTablesError as exc:
            log.error("sync failed (%s sync): %s", "full" if full else "partial", exc)
            self.changed |= changed
            self.need_full_sync = True
            self.metrics.restore_failures.inc()
            if not full:
                self.metrics.partial_restore_failures.inc()
            return SyncResult(ok=False, full=full, seconds=time.monotonic() - started)
        if existing is not None:
            self.last_stale_cleanup = time.monotonic()
        self.need_full_sync = False
        if full:
            self.last_full_sync = started
        self.syncs += 1
        seconds = time.monotonic() - started
        self._record(ruleset, full=full, seconds=seconds)
        self.health.updated()
        await self._flush_conntrack(services, endpoints)
        log.debug(
            "%s sync: %d services, %d endpoints, %d stale chains deleted in %.3fs",
            "full" if full else "partial", len(services), endpoint_count,
            len(ruleset.deleted_chains), seconds,
        )  # fmt: skip
        return SyncResult(ok=True, full=full, seconds=seconds, rules=ruleset)

    def _record(self, ruleset: RuleSet, *, full: bool, seconds: float) -> None:
        self.metrics.sync_duration.observe(seconds)
        (self.metrics.full_sync_duration if full else self.metrics.partial_sync_duration).observe(seconds)
        self.metrics.last_sync.set(time.time())
        nat_text = ruleset.text.partition("*nat\n")[2]
        filter_written = ruleset.text.count("\n-A ") - nat_text.count("\n-A ")
        for table, count in ruleset.rule_counts.items():
            self.metrics.rules_total.set(count, table)
        self.metrics.rules_last.set(filter_written, "filter")
        self.metrics.rules_last.set(nat_text.count("\n-A "), "nat")
        for policy, count in ruleset.no_local_endpoints.items():
            self.metrics.no_local_endpoints.set(count, policy)

    async def _flush_conntrack(
        self, services: dict[ServicePortName, ServicePort], endpoints: dict[ServicePortName, list[Endpoint]]
    ) -> None:
        current = {
            key: conntrack.Programmed(
                service, frozenset(ep.ip for ep in categorize(service, endpoints.get(key, [])).reachable)
            )
            for key, service in services.items()
        }
        deletions = conntrack.stale_udp_deletions(self.programmed, current)
        self.programmed = current
        if deletions:
            await conntrack.delete(deletions, prefix=self.iptables.prefix)

    async def _nodeport_ips(self) -> tuple[str, ...] | None:
        """The local addresses NodePorts answer on; None means every local address."""
        wanted = self.options.nodeport_addresses
        if not wanted:
            return None
        found: list[str] = []
        if "primary" in wanted:
            found += node_internal_ips(self.node)
        networks = [ipaddress.ip_network(c, strict=False) for c in wanted if c != "primary"]
        if networks:
            for address in await local_addresses(self.iptables.prefix):
                if any(ipaddress.ip_address(address) in net for net in networks):
                    found.append(address)
        return tuple(sorted(set(found)))


def node_internal_ips(node: Obj | None) -> list[str]:
    addresses = ((node or {}).get("status") or {}).get("addresses") or []
    return [a["address"] for a in addresses if a.get("type") == "InternalIP" and "." in a.get("address", "")]


async def local_addresses(prefix: Sequence[str] = ()) -> list[str]:
    """IPv4 addresses of this network namespace's interfaces (``ip -j addr``)."""
    process = await asyncio.create_subprocess_exec(
        *prefix, "ip", "-j", "-4", "addr", "show",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await process.communicate()
    try:
        interfaces = json.loads(out or b"[]")
    except ValueError:
        return []
    return [info["local"] for iface in interfaces for info in iface.get("addr_info", []) if "local" in info]
