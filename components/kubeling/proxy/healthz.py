"""kube-proxy's plain-HTTP servers: ``/healthz`` + ``/livez`` (10256) and ``/metrics`` (10249).

Health follows upstream's rule: the proxy is healthy unless a change has
been waiting for a sync longer than the timeout (twice the sync period) —
that is, "syncs keep up".  ``/healthz`` is also 503 while this node is being
deleted or is tainted ``ToBeDeletedByClusterAutoscaler`` (so load balancers
drain it); ``/livez`` ignores the node.  Both answer upstream's JSON
(``lastUpdated``, ``currentTime``, ``nodeEligible``).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable

from aiohttp import web

from kubeling.proxy.config import split_host_port

log = logging.getLogger(__name__)

TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"


def _rfc3339(timestamp: float) -> str:
    if not timestamp:
        return "0001-01-01T00:00:00Z"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat().replace("+00:00", "Z")


class HTTPServerError(Exception):
    """A server could not start (its address is taken or not local)."""


class ProxierHealth:
    def __init__(self, timeout: float, *, clock: Callable[[], float] = time.time) -> None:
        self.timeout = timeout
        self.clock = clock
        self.last_updated = 0.0
        self.oldest_pending = 0.0  # 0: nothing waits for a sync
        self.node_eligible = True

    def queued_update(self) -> None:
        if not self.oldest_pending:
            self.oldest_pending = self.clock()

    def updated(self) -> None:
        self.last_updated = self.clock()
        self.oldest_pending = 0.0

    def set_node(self, node: dict | None) -> None:
        if node is None:
            self.node_eligible = True
            return
        deleting = bool((node.get("metadata") or {}).get("deletionTimestamp"))
        taints = (node.get("spec") or {}).get("taints") or []
        self.node_eligible = not deleting and all(t.get("key") != TO_BE_DELETED_TAINT for t in taints)

    def healthy(self) -> bool:
        return not self.oldest_pending or self.clock() - self.oldest_pending < self.timeout

    def body(self) -> str:
        return json.dumps(
            {
                "lastUpdated": _rfc3339(self.last_updated),
                "currentTime": _rfc3339(self.clock()),
                "nodeEligible": self.node_eligible,
            }
        )


class HTTPServers:
    """The health server and the metrics server (an empty bind address switches one off)."""

    def __init__(
        self,
        *,
        health: ProxierHealth,
        metrics_text: Callable[[], str],
        healthz_bind_address: str,
        metrics_bind_address: str,
        proxy_mode: str = "iptables",
    ) -> None:
        self.health = health
        self.metrics_text = metrics_text
        self.healthz_bind_address = healthz_bind_address
        self.metrics_bind_address = metrics_bind_address
        self.proxy_mode = proxy_mode
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        health = web.Application()
        health.router.add_get("/healthz", self._healthz)
        health.router.add_get("/livez", self._livez)
        metrics = web.Application()
        metrics.router.add_get("/metrics", self._metrics)
        metrics.router.add_get("/proxyMode", self._proxy_mode)
        for app, address in ((health, self.healthz_bind_address), (metrics, self.metrics_bind_address)):
            if not address:
                continue
            host, port = split_host_port(address)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            self._runners.append(runner)
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                await self.stop()
                raise HTTPServerError(f"cannot serve on {address}: {exc.strerror}") from None
            log.info("serving %s on http://%s", "/metrics" if app is metrics else "/healthz", address)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    def _answer(self, ok: bool) -> web.Response:
        return web.Response(
            text=self.health.body(),
            status=200 if ok else 503,
            content_type="application/json",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return self._answer(self.health.healthy() and self.health.node_eligible)

    async def _livez(self, request: web.Request) -> web.Response:
        return self._answer(self.health.healthy())

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics_text(), content_type="text/plain", charset="utf-8")

    async def _proxy_mode(self, request: web.Request) -> web.Response:
        return web.Response(text=self.proxy_mode)
