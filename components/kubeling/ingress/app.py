"""``kubeling ingress``: wires the controller, the proxy listeners, TLS, status and endpoints.

Start order: the status port (so probes get an answer), informers, then the
HTTP/HTTPS listeners once the first routing table is built (a request never
meets an empty table just because the lists were still loading).  On
cancellation (SIGTERM) the listeners stop accepting and finish the requests
in flight (aiohttp's graceful shutdown), then informers, status and client stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from aiohttp import web

from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.leaderelection import LeaderElector, RESTLeaseClient
from kubeling.client.rest import RESTClient
from kubeling.ingress.backends import Balancer
from kubeling.ingress.config import IngressConfig
from kubeling.ingress.controller import IngressController
from kubeling.ingress.endpoints import StatusEndpoints
from kubeling.ingress.metrics import IngressMetrics
from kubeling.ingress.proxy import ReverseProxy
from kubeling.ingress.routing import TLSRef
from kubeling.ingress.snapshot import Snapshot
from kubeling.ingress.status import (
    AddressSource,
    StatusWriter,
    published_service,
    sibling_pods,
    static_addresses,
)
from kubeling.ingress.tls import CertificateStore

log = logging.getLogger(__name__)


def split_ref(value: str, flag: str) -> tuple[str, str]:
    namespace, slash, name = value.partition("/")
    if not slash or not namespace or not name:
        raise SystemExit(f"kubeling ingress: {flag} must be namespace/name, not {value!r}")
    return namespace, name


@dataclass
class IngressApp:
    """Everything one controller process runs; tests start it in-process."""

    config: IngressConfig
    client: RESTClient
    pod_name: str = ""
    pod_namespace: str = ""

    def __post_init__(self) -> None:
        config = self.config
        self.metrics = IngressMetrics()
        self.controller = IngressController(self.client, config, on_reload=self._reloaded)
        default_cert = (
            TLSRef(*split_ref(config.default_ssl_certificate, "--default-ssl-certificate"))
            if config.default_ssl_certificate
            else None
        )
        self.certificates = CertificateStore(secret=self.controller.secret, default=default_cert)
        self.proxy = ReverseProxy(
            snapshot=self.controller.current,
            balancer=Balancer(config.load_balance),
            metrics=self.metrics,
            connect_timeout=config.proxy_connect_timeout,
            read_timeout=config.proxy_read_timeout,
        )
        self.endpoints = StatusEndpoints(
            bind_address=config.bind_address,
            port=config.healthz_port,
            ready=self.controller.has_synced,
            metrics=self.metrics.render,
        )
        source = self._address_source()
        self.status = (
            StatusWriter(
                self.client,
                addresses=source,
                owned=self.controller.owned_ingresses,
                interval=config.status_update_interval,
            )
            if config.update_status and source is not None
            else None
        )
        self._runner: web.ServerRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _address_source(self) -> AddressSource | None:
        config = self.config
        if config.publish_status_address:
            return static_addresses(config.publish_status_address)
        if config.publish_service:
            return published_service(self.client, *split_ref(config.publish_service, "--publish-service"))
        if self.pod_name and self.pod_namespace:
            return sibling_pods(self.client, self.pod_namespace, self.pod_name)
        log.warning("no --publish-status-address, --publish-service or POD_NAME: Ingress status not written")
        return None

    def _reloaded(self, snapshot: Snapshot) -> None:
        self.certificates.use(snapshot.table.certificate_for)
        self.metrics.reloaded()
        if self.status is not None:
            self.status.wake.set()

    async def start(self, ready_timeout: float = 60.0) -> None:
        await self.endpoints.start()
        self._tasks.append(asyncio.create_task(self.controller.run(), name="ingress-controller"))
        if self.status is not None:
            self._tasks.append(asyncio.create_task(self._status_loop(), name="ingress-status"))
        if not await self.controller.wait_ready(ready_timeout):
            raise SystemExit("kubeling ingress: informers did not sync; is the API server reachable?")
        self._runner = web.ServerRunner(web.Server(self.proxy.handle), shutdown_timeout=10.0)
        await self._runner.setup()
        config = self.config
        await web.TCPSite(self._runner, config.bind_address, config.http_port).start()
        if config.https_port:
            await web.TCPSite(
                self._runner,
                config.bind_address,
                config.https_port,
                ssl_context=self.certificates.listener_context,
            ).start()
        log.info("proxying on %s ports %d/%d", config.bind_address, config.http_port, config.https_port)

    async def _status_loop(self) -> None:
        assert self.status is not None
        if not self.pod_name:  # one controller (tests, a single process): no election needed
            await self.status.run()
            return
        elector = LeaderElector(
            RESTLeaseClient(self.client),
            self.pod_namespace,
            self.config.election_id,
            self.pod_name,
            on_started_leading=self.status.run,
        )
        while True:  # a lost lease: campaign again
            await elector.run()

    async def wait(self) -> None:
        """Until a task fails (a bug, surfaced) or the caller is cancelled."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.proxy.close()
        await self.endpoints.stop()


async def run(config: IngressConfig) -> None:
    try:
        client_config = load_config(config.kubeconfig)
    except ConfigError as exc:
        raise SystemExit(f"kubeling ingress: {exc}") from None
    client = RESTClient(client_config, component="ingress")
    try:
        app = IngressApp(
            config,
            client,
            pod_name=os.environ.get("POD_NAME", ""),
            pod_namespace=os.environ.get("POD_NAMESPACE", ""),
        )
        try:
            try:
                await app.start()
            except OSError as exc:
                raise SystemExit(f"kubeling ingress: cannot listen: {exc}") from None
            await app.wait()
        finally:
            await app.stop()
    finally:
        await client.close()
