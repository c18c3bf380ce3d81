"""The HTTP side of the DNS server, on CoreDNS's ports.

``/health`` (health plugin, 8080): 200 ``OK`` while the process serves.
``/ready`` (ready plugin, 8181): 200 ``OK`` once the informers have synced,
else 503 naming what is not ready (``kubernetes``).  ``/metrics``
(prometheus plugin, 9153).  Endpoints sharing a port share one listener;
port 0 leaves an endpoint out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], web.Response]


class HTTPEndpoints:
    def __init__(
        self,
        *,
        bind_address: str,
        health_port: int,
        ready_port: int,
        metrics_port: int,
        ready: Callable[[], bool],
        metrics: Callable[[], str],
    ) -> None:
        self.bind_address = bind_address
        self.ready = ready
        self.metrics = metrics
        self.routes: dict[int, dict[str, Handler]] = {}
        for port, path, handler in (
            (health_port, "/health", self._health),
            (ready_port, "/ready", self._ready),
            (metrics_port, "/metrics", self._metrics),
        ):
            if port:
                self.routes.setdefault(port, {})[path] = handler
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        for port, routes in self.routes.items():
            app = web.Application()
            for path, handler in routes.items():
                app.router.add_get(path, self._wrap(handler))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            self._runners.append(runner)
            await web.TCPSite(runner, self.bind_address, port).start()
            log.info("serving %s on %s:%d", ", ".join(routes), self.bind_address, port)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    @staticmethod
    def _wrap(handler: Handler) -> Callable[[web.Request], object]:
        async def serve(request: web.Request) -> web.Response:
            return handler(request)

        return serve

    def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    def _ready(self, request: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="OK")
        return web.Response(text="kubernetes", status=503)

    def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.metrics(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )
