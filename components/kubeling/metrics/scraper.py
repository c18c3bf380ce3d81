"""One scrape: every Node's kubelet ``/metrics/resource`` at once, each bounded by a timeout.

The address of a node is the first of its ``status.addresses`` whose type
comes first in ``--kubelet-preferred-address-types``; the port is the Node's
``status.daemonEndpoints.kubeletEndpoint.Port``, else ``--kubelet-port``.
Requests carry this server's own credentials: the kubeconfig's client
certificate (or ``--kubelet-client-certificate``) in the TLS handshake and
its bearer token (a projected service-account token in a pod), which the
kubelet checks with a TokenReview and a SubjectAccessReview on
``nodes/metrics``.  A node that fails is left out of the batch (its points
are dropped, as upstream) and logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import ssl
import time
from typing import Any

import aiohttp

from kubeling.client.kubeconfig import ClientConfig
from kubeling.metrics.config import MetricsServerConfig
from kubeling.metrics.decode import DecodeError, decode
from kubeling.metrics.samples import MetricsBatch

log = logging.getLogger(__name__)

RESOURCE_METRICS_PATH = "/metrics/resource"


def node_address(node: dict[str, Any], preferred_types: list[str]) -> str | None:
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in preferred_types:
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return str(address["address"])
    return None


def node_port(node: dict[str, Any], default: int) -> int:
    endpoints = (node.get("status") or {}).get("daemonEndpoints") or {}
    port = (endpoints.get("kubeletEndpoint") or {}).get("Port")
    return port if isinstance(port, int) and 0 < port < 65536 else default


def kubelet_url(address: str, port: int) -> str:
    try:
        host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        host = address
    return f"https://{host}:{port}{RESOURCE_METRICS_PATH}"


def kubelet_ssl_context(config: MetricsServerConfig, client: ClientConfig) -> ssl.SSLContext:
    """How to reach kubelets: their CA (or none with --kubelet-insecure-tls) and our client certificate."""
    overrides: dict[str, Any] = {"insecure_skip_tls_verify": config.kubelet_insecure_tls}
    if config.kubelet_certificate_authority:
        overrides.update(ca_file=config.kubelet_certificate_authority, ca_data=None)
    if config.kubelet_client_certificate:
        overrides.update(
            cert_file=config.kubelet_client_certificate,
            cert_data=None,
            key_file=config.kubelet_client_key,
            key_data=None,
        )
    tls = dataclasses.replace(client, server="https://kubelet", **overrides).ssl_context()
    assert tls is not None  # an https server always gets a context
    return tls


class Scraper:
    def __init__(self, config: MetricsServerConfig, client: ClientConfig) -> None:
        self.config = config
        self.client = client
        self._ssl = kubelet_ssl_context(config, client)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def scrape(self, nodes: list[dict[str, Any]]) -> tuple[MetricsBatch, int]:
        """The merged batch of every node that answered, and how many failed."""
        timeout = min(self.config.kubelet_request_timeout, self.config.metric_resolution)
        results = await asyncio.gather(*(self._scrape_node(node, timeout) for node in nodes))
        batch, failures = MetricsBatch(), 0
        for result in results:
            if result is None:
                failures += 1
            else:
                batch.merge(result)
        return batch, failures

    async def _scrape_node(self, node: dict[str, Any], timeout: float) -> MetricsBatch | None:
        name = (node.get("metadata") or {}).get("name", "")
        address = node_address(node, self.config.kubelet_preferred_address_types)
        if address is None:
            log.warning(
                "node %s has none of the address types %s",
                name,
                self.config.kubelet_preferred_address_types,
            )
            return None
        url = kubelet_url(address, node_port(node, self.config.kubelet_port))
        headers = {"Accept": "text/plain"}
        token = self.client.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.time()
        try:
            async with self._get_session().get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                text = await response.text()
                if response.status != 200:
                    log.warning("scraping node %s (%s): HTTP %d: %s", name, url, response.status, text[:200])
                    return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("scraping node %s (%s) failed: %s", name, url, str(exc) or type(exc).__name__)
            return None
        try:
            return decode(text, name, started)
        except DecodeError as exc:
            log.warning("node %s answered malformed metrics: %s", name, exc)
            return None
