"""``/healthz`` and ``/metrics`` on ingress-nginx's status port (10254, plain HTTP).

``/healthz`` answers 200 ``ok`` once the first routing table is in place
(the proxy then routes with everything the informers listed), 500 before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)


class StatusEndpoints:
    def __init__(
        self, *, bind_address: str, port: int, ready: Callable[[], bool], metrics: Callable[[], str]
    ):
        self.bind_address, self.port = bind_address, port
        self.ready, self.metrics = ready, metrics
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if not self.port:
            return
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.bind_address, self.port).start()
        log.info("serving /healthz and /metrics on %s:%d", self.bind_address, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="ok")
        return web.Response(status=500, text="routing table not loaded yet\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics(), content_type="text/plain", charset="utf-8")
