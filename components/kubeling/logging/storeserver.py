"""``kubeling log-store``: the SQLite store behind the aggregated API ``logging.kubeling.io/v1alpha1``.

HTTPS on ``--secure-port`` (self-signed in ``--cert-dir`` unless
``--tls-cert-file`` is given: the APIService trusts it with
``insecureSkipTLSVerify``, as metrics-server's does).  Every request but
``--authorization-always-allow-paths`` is authenticated and authorized by
:class:`kubeling.metrics.auth.DelegatedAuth` — the API server's front-proxy
certificate with ``X-Remote-*`` headers, client certificates, bearer tokens
through TokenReview — then a SubjectAccessReview for ``logs`` in
``logging.kubeling.io`` (list in the namespace asked, create for batches).
Lines older than ``--retention`` are deleted every minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import ssl
import tempfile
import time

from aiohttp import web

from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.rest import RESTClient
from kubeling.health import HealthServer
from kubeling.logging.api import MAX_BODY, LogsAPI, status_response
from kubeling.logging.config import StoreConfig
from kubeling.logging.shipper import GROUP, VERSION
from kubeling.logging.store import LogStore
from kubeling.metrics.auth import DelegatedAuth
from kubeling.metrics.serving import guard, serving_context

log = logging.getLogger(__name__)

SERVING_HOSTS = ["localhost", "127.0.0.1", "log-store", "log-store.kube-system.svc"]
RETENTION_SWEEP = 60.0


class LogStoreServer:
    def __init__(
        self,
        config: StoreConfig,
        client: RESTClient,
        *,
        authentication_client: RESTClient | None = None,
        authorization_client: RESTClient | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.store = LogStore(config.database)
        self.api = LogsAPI(self.store)
        self.auth = DelegatedAuth(
            config,
            authentication_client or client,
            authorization_client or client,
            group=GROUP,
            version=VERSION,
        )
        self.port = config.secure_port
        self.health = HealthServer(port=0)
        self._runner: web.AppRunner | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        await self.auth.refresh()
        self._tasks = [
            asyncio.create_task(self._refresh_auth(), name="log-store-auth"),
            asyncio.create_task(self._sweep(), name="log-store-retention"),
        ]
        allow = self.config.authorization_always_allow_paths
        middleware = guard(self.auth, allow, status_response, group=GROUP, version=VERSION)
        app = web.Application(middlewares=[middleware], client_max_size=MAX_BODY)
        app.router.add_routes(self.api.routes())
        for endpoint in ("healthz", "livez", "readyz"):
            app.router.add_get(f"/{endpoint}", self.health._all)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context, self._tempdir = serving_context(
            self.config.tls_cert_file,
            self.config.tls_private_key_file,
            self.config.cert_dir,
            SERVING_HOSTS,
            "log-store",
        )
        site = web.TCPSite(self._runner, self.config.bind_address, self.port, ssl_context=context)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info(
            "serving %s/%s on %s:%d (%s)",
            GROUP,
            VERSION,
            self.config.bind_address,
            self.port,
            self.config.database,
        )
        return self.port

    async def wait(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def _refresh_auth(self) -> None:
        while True:
            loaded = self.auth.loaded
            await asyncio.sleep(self.config.authentication_config_refresh if loaded else 2.0)
            await self.auth.refresh()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_SWEEP)
            if self.config.retention > 0:
                cutoff = time.time_ns() - int(self.config.retention * 1e9)
                removed = await asyncio.to_thread(self.store.delete_before, cutoff)
                if removed:
                    log.info("deleted %d lines older than %.0fs", removed, self.config.retention)


async def run(config: StoreConfig) -> None:
    """``kubeling log-store``: serve until cancelled."""
    try:
        client_config = load_config(config.kubeconfig or None)
        authn_config = (
            load_config(config.authentication_kubeconfig) if config.authentication_kubeconfig else None
        )
        authz_config = (
            load_config(config.authorization_kubeconfig) if config.authorization_kubeconfig else None
        )
    except ConfigError as exc:
        raise SystemExit(f"kubeling log-store: {exc}") from None
    client = RESTClient(client_config, component="log-store")
    authn = RESTClient(authn_config, component="log-store") if authn_config else None
    authz = RESTClient(authz_config, component="log-store") if authz_config else None
    try:
        server = LogStoreServer(config, client, authentication_client=authn, authorization_client=authz)
    except (sqlite3.Error, OSError) as exc:  # an unwritable or corrupt --database
        raise SystemExit(f"kubeling log-store: cannot open {config.database}: {exc}") from None
    try:
        try:
            await server.start()
        except (OSError, ssl.SSLError) as exc:
            raise SystemExit(f"kubeling log-store: cannot serve: {exc}") from None
        await server.wait()
    finally:
        await server.stop()
        for each in (client, authn, authz):
            if each is not None:
                with contextlib.suppress(Exception):
                    await each.close()
