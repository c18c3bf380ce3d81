"""The metrics-server process: informers, the scrape loop, and the HTTPS API.

Start order: node and pod informers list+watch the apiserver; the
authentication settings are read; HTTPS starts serving (``/livez`` at once,
``/readyz`` failing until the first scrape is stored); then every
``--metric-resolution`` one scrape of all nodes runs and its batch replaces
the storage's state.  A scrape slower than the resolution delays the next
tick rather than overlapping it.  On cancellation (SIGTERM) the server stops
accepting, the loops are cancelled and the clients closed.

Every request but ``--authorization-always-allow-paths`` is authenticated and
authorized (``auth.py``) before ``api.py`` answers it; failures are
``metav1.Status`` 401/403 bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
import time

from aiohttp import web

from kubeling.client.informer import Informer
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.health import HealthServer
from kubeling.metrics.api import MetricsAPI, status_response
from kubeling.metrics.auth import GROUP, VERSION, DelegatedAuth
from kubeling.metrics.config import MetricsServerConfig
from kubeling.metrics.scraper import Scraper
from kubeling.metrics.selfmetrics import ScrapeStats, exposition
from kubeling.metrics.serving import guard, serving_context
from kubeling.metrics.storage import MetricsStorage

log = logging.getLogger(__name__)

NODES = StaticResource("", "v1", "nodes", namespaced=False)
PODS = StaticResource("", "v1", "pods")
SERVING_HOSTS = ["localhost", "127.0.0.1", "metrics-server", "metrics-server.kube-system.svc"]


class MetricsServer:
    def __init__(
        self,
        config: MetricsServerConfig,
        client: RESTClient,
        *,
        authentication_client: RESTClient | None = None,
        authorization_client: RESTClient | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.node_informer = Informer(client, NODES)
        self.pod_informer = Informer(client, PODS)
        self.storage = MetricsStorage(config.metric_resolution)
        self.scraper = Scraper(config, client.config)
        self.auth = DelegatedAuth(config, authentication_client or client, authorization_client or client)
        self.api = MetricsAPI(self.storage, self.node_informer.store, self.pod_informer.store)
        self.port = config.secure_port
        self.last_tick = 0.0
        self.stats = ScrapeStats()
        self._runner: web.AppRunner | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.live = HealthServer(port=0, checks={"metric-collection-timely": self._timely})
        self.ready = HealthServer(
            port=0, checks={"metric-storage-ready": self._storage_ready, "informer-sync": self._synced}
        )

    # -- health ----------------------------------------------------------------------------

    def _timely(self) -> str | None:
        if not self.last_tick:
            return None  # not started yet: readiness, not liveness, says so
        late = time.monotonic() - self.last_tick - self.config.metric_resolution
        allowed = self.config.metric_resolution * 0.5 + self.config.kubelet_request_timeout
        return f"last scrape started {late:.1f}s late" if late > allowed else None

    def _storage_ready(self) -> str | None:
        return None if self.storage.stored_batches else "no metrics scraped yet"

    def _synced(self) -> str | None:
        if self.node_informer.has_synced() and self.pod_informer.has_synced():
            return None
        return "node and pod informers have not synced"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> int:
        """Start informers, loops and HTTPS; returns the port served."""
        self._tasks = [
            asyncio.create_task(self.node_informer.run(), name="metrics-server-nodes"),
            asyncio.create_task(self.pod_informer.run(), name="metrics-server-pods"),
        ]
        await self.auth.refresh()
        self._tasks.append(asyncio.create_task(self._refresh_auth(), name="metrics-server-auth"))
        allow = self.config.authorization_always_allow_paths
        middleware = guard(self.auth, allow, status_response, group=GROUP, version=VERSION)
        app = web.Application(middlewares=[middleware])
        app.router.add_routes(self.api.routes())
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/livez", self.live._all)
        app.router.add_get("/healthz", self.live._all)
        app.router.add_get("/readyz", self.ready._all)
        app.router.add_get("/livez/{check}", self.live._one)
        app.router.add_get("/readyz/{check}", self.ready._one)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context, self._tempdir = serving_context(
            self.config.tls_cert_file,
            self.config.tls_private_key_file,
            self.config.cert_dir,
            SERVING_HOSTS,
            "metrics-server",
        )
        site = web.TCPSite(self._runner, self.config.bind_address, self.port, ssl_context=context)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("serving metrics.k8s.io securely on %s:%d", self.config.bind_address, self.port)
        self._tasks.append(asyncio.create_task(self._scrape_loop(), name="metrics-server-scrape"))
        return self.port

    async def wait(self) -> None:
        """Until a loop fails (its error surfaces) or the server is cancelled."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()

    async def stop(self) -> None:
        for informer in (self.node_informer, self.pod_informer):
            informer.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.scraper.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    # -- loops -----------------------------------------------------------------------------

    async def _scrape_loop(self) -> None:
        await self.node_informer.wait_synced()
        await self.pod_informer.wait_synced()
        while True:
            self.last_tick = time.monotonic()
            nodes = self.node_informer.store.list()
            started = time.monotonic()
            batch, failures = await self.scraper.scrape(nodes)
            self.storage.store(batch)
            self.stats.record(time.monotonic() - started, len(nodes), failures)
            log.debug(
                "scraped %d nodes (%d failed), %d pods in %.2fs",
                len(nodes),
                failures,
                len(batch.pods),
                time.monotonic() - started,
            )
            delay = self.config.metric_resolution - (time.monotonic() - self.last_tick)
            await asyncio.sleep(max(delay, 0.0))

    async def _refresh_auth(self) -> None:
        while True:
            # Until the ConfigMap is read once, ask often: front-proxy requests need it.
            loaded = self.auth.loaded
            await asyncio.sleep(self.config.authentication_config_refresh if loaded else 2.0)
            await self.auth.refresh()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=exposition(self.stats, self.storage), content_type="text/plain")


async def run(config: MetricsServerConfig) -> None:
    """``kubeling metrics-server``: serve until cancelled."""
    try:
        client_config = load_config(config.kubeconfig or None)
        authn_path, authz_path = config.authentication_kubeconfig, config.authorization_kubeconfig
        authn_config = load_config(authn_path) if authn_path else None
        authz_config = load_config(authz_path) if authz_path else None
    except ConfigError as exc:
        raise SystemExit(f"kubeling metrics-server: {exc}") from None
    client = RESTClient(client_config, component="metrics-server")
    authn = RESTClient(authn_config, component="metrics-server") if authn_config else None
    authz = RESTClient(authz_config, component="metrics-server") if authz_config else None
    server = MetricsServer(config, client, authentication_client=authn, authorization_client=authz)
    try:
        try:
            await server.start()
        except (OSError, ssl.SSLError) as exc:  # a bad --tls-* file or a port in use
            raise SystemExit(f"kubeling metrics-server: cannot serve: {exc}") from None
        await server.wait()
    finally:
        await server.stop()
        for each in (client, authn, authz):
            if each is not None:
                with contextlib.suppress(Exception):
                    await each.close()
