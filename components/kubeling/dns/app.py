"""``kubeling dns``: wires the record model, informers, resolver, listeners and HTTP endpoints.

Start order: HTTP endpoints (so /health answers at once), informers, DNS
listeners.  Queries for cluster names get SERVFAIL until the informers have
synced, and /ready says 503 until then.  On cancellation (SIGTERM) the
server goes lame duck: /ready says 503 while it answers on for
``--lameduck`` seconds, so the endpoint controller and every kube-proxy take
it out of the kube-dns Service before it stops (a second signal cuts that
short); then the listeners close, then the informers and the API client.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kubeling.client.informer import ListWatcher
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.rest import RESTClient
from kubeling.dns.cache import AnswerCache
from kubeling.dns.config import DNSConfig
from kubeling.dns.endpoints import HTTPEndpoints
from kubeling.dns.forward import Forwarder, Upstream, parse_upstream, resolv_conf_nameservers
from kubeling.dns.handler import Resolver
from kubeling.dns.metrics import DNSMetrics
from kubeling.dns.records import ClusterRecords
from kubeling.dns.server import DNSServer
from kubeling.dns.watch import ClusterWatch

log = logging.getLogger(__name__)


def upstreams_of(config: DNSConfig) -> list[Upstream]:
    """--upstream, else the nameservers of --resolv-conf; a clear SystemExit when neither gives one."""
    try:
        if config.upstream:
            return [parse_upstream(value) for value in config.upstream]
        servers = resolv_conf_nameservers(config.resolv_conf)
    except ValueError as exc:
        raise SystemExit(f"kubeling dns: {exc}") from None
    except OSError as exc:
        raise SystemExit(f"kubeling dns: cannot read --resolv-conf {config.resolv_conf}: {exc}") from None
    if not servers:
        log.warning("no nameserver in %s: names outside the cluster will get SERVFAIL", config.resolv_conf)
    return servers


@dataclass
class DNSApp:
    """Everything one DNS server process runs; tests and the benchmark start it in-process."""

    config: DNSConfig
    client: ListWatcher

    def __post_init__(self) -> None:
        config = self.config
        self.records = ClusterRecords(domain=config.cluster_domain, ttl=config.ttl)
        self.watch = ClusterWatch(self.client, self.records)
        self.metrics = DNSMetrics(server=f"dns://:{config.port}")
        self.cache = AnswerCache(capacity=config.cache_size, max_ttl=config.cache_max_ttl)
        self.metrics.cache_entries = self.cache.sizes
        upstreams = upstreams_of(config)
        forwarder = (
            Forwarder(upstreams, timeout=config.forward_timeout, on_attempt=self._count_forward)
            if upstreams
            else None
        )
        self.resolver = Resolver(
            self.records,
            forwarder=forwarder,
            cache=self.cache,
            metrics=self.metrics,
            synced=self.watch.has_synced,
        )
        self.server = DNSServer(self.resolver, bind_address=config.bind_address, port=config.port)
        self.endpoints = HTTPEndpoints(
            bind_address=config.health_bind_address or config.bind_address,
            health_port=config.health_port,
            ready_port=config.ready_port,
            metrics_port=config.metrics_port,
            ready=self.ready,
            metrics=self.metrics.render,
        )
        self._watch_task: asyncio.Task[None] | None = None
        self.draining = False

    def ready(self) -> bool:
        return self.watch.has_synced() and not self.draining

    async def lame_duck(self, seconds: float) -> None:
        """Fail /ready but keep answering for ``seconds``."""
        if seconds <= 0:
            return
        self.draining = True
        log.info("lame duck: answering for %.1fs more while /ready fails", seconds)
        await asyncio.sleep(seconds)

    def _count_forward(self, upstream: str, outcome: str) -> None:
        self.metrics.forward_requests.inc(to=upstream)
        if outcome != "error":
            self.metrics.forward_responses.inc(to=upstream, rcode=outcome)

    async def start(self) -> None:
        await self.endpoints.start()
        self._watch_task = asyncio.create_task(self.watch.run(), name="dns-informers")
        await self.server.start()

    async def wait(self) -> None:
        """Until the informers fail (a handler bug) or the caller is cancelled."""
        assert self._watch_task is not None
        await self._watch_task

    async def stop(self) -> None:
        await self.server.stop()
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        await self.endpoints.stop()


async def run(config: DNSConfig) -> None:
    try:
        client_config = load_config(config.kubeconfig)
    except ConfigError as exc:
        raise SystemExit(f"kubeling dns: {exc}") from None
    client = RESTClient(client_config, component="dns")
    try:
        app = DNSApp(config, client)
        try:
            try:
                await app.start()
            except OSError as exc:
                raise SystemExit(f"kubeling dns: cannot listen: {exc}") from None
            try:
                await app.wait()
            except asyncio.CancelledError:
                await app.lame_duck(config.lameduck)
                raise
        finally:
            await app.stop()
    finally:
        await client.close()
