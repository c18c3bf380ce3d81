"""The aggregation layer's proxy: requests for an APIService's group-version go to its service.

A request under ``/apis/<group>/<version>`` whose APIService names a
``spec.service`` is not served here: after authentication (and authorization,
as upstream's aggregator runs the whole filter chain before proxying) it is
re-issued over HTTPS to the extension apiserver, which admits and stores on
its own and may authorize again by SubjectAccessReview.

- Where to: with ``--enable-aggregator-routing`` a ready endpoint of the
  Service's EndpointSlices (the address and the port named like the Service
  port), else the Service's clusterIP and port; an ExternalName Service's
  external name either way.
- Trust: the backend's certificate is checked against ``spec.caBundle`` for
  the name ``<service>.<namespace>.svc`` (or not at all with
  ``insecureSkipTLSVerify``); the apiserver presents
  ``--proxy-client-cert-file`` as its client certificate.
- Identity: the caller's credentials (Authorization, impersonation headers)
  and any ``X-Remote-*`` it sent are dropped; the authenticated user goes in
  ``X-Remote-User``, one ``X-Remote-Group`` per group and
  ``X-Remote-Extra-<key>`` per extra value.
- The answer streams back as it comes (watches stay open), and an APIService
  that is not Available, has no endpoint or does not answer gets a 503
  ServiceUnavailable, as upstream; a backend that does not answer also has
  its availability re-checked at once rather than at the next resync.
"""

from __future__ import annotations

import base64
import logging
import random
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver.authn import User
from kubeling.apiserver.relay import forwardable_headers, relay

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

GROUP = "apiregistration.k8s.io"
RESOURCE = "apiservices"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_CONNECT_TIMEOUT = 10.0
_DROP_REQUEST_PREFIXES = ("x-remote-", "impersonate-")  # besides the client hop headers


class BackendUnavailable(Exception):
    """The APIService's service cannot be reached (no Service, no endpoint, no address)."""


def unavailable() -> errors.StatusError:
    return errors.StatusError(503, "ServiceUnavailable", "service unavailable")


def service_ref(apiservice: Mapping[str, Any]) -> dict[str, Any] | None:
    service = (apiservice.get("spec") or {}).get("service")
    return service if isinstance(service, dict) else None


def is_available(apiservice: Mapping[str, Any]) -> bool:
    for condition in (apiservice.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Available":
            return condition.get("status") == "True"
    return False


def api_service_for(server: APIServer, group: str, version: str) -> dict[str, Any] | None:
    """The APIService of a group-version (from the watch cache), or None."""
    if not group or not version:
        return None
    return server.lookup(GROUP, RESOURCE, "", f"{version}.{group}")


def api_services(server: APIServer) -> list[dict[str, Any]]:
    resource = server.registry.preferred(GROUP, RESOURCE)
    if resource is None or server.cache is None:
        return []
    return server.cache.list(resource.storage_prefix, resource.storage_prefix)


def server_name(ref: Mapping[str, Any]) -> str:
    """The name a backend's serving certificate must carry, as upstream verifies it."""
    return f"{ref.get('name', '')}.{ref.get('namespace', '')}.svc"


# -- routing ------------------------------------------------------------------------------


def _service_port(service: Mapping[str, Any], port: int) -> dict[str, Any]:
    for candidate in (service.get("spec") or {}).get("ports") or []:
        if candidate.get("port") == port:
            return candidate
    meta = service.get("metadata") or {}
    raise BackendUnavailable(f'service/{meta.get("name")} in "{meta.get("namespace")}" has no port {port}')


def ready_endpoints(server: APIServer, namespace: str, name: str, port_name: str) -> list[tuple[str, int]]:
    """(address, port) of every ready endpoint of a Service, for the port named ``port_name``."""
    resource = server.registry.preferred("discovery.k8s.io", "endpointslices")
    if resource is None or server.cache is None:
        return []
    found: list[tuple[str, int]] = []
    for eps in server.cache.list(resource.storage_prefix, resource.namespace_prefix(namespace)):
        if ((eps.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) != name:
            continue
        port = next(
            (p.get("port") for p in eps.get("ports") or [] if (p.get("name") or "") == port_name), None
        )
        if not isinstance(port, int):
            continue
        for endpoint in eps.get("endpoints") or []:
            # An unset ready condition means ready, as EndpointSlice consumers read it.
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses") or []
            if addresses:
                found.append((addresses[0], port))
    return found


def resolve(server: APIServer, ref: Mapping[str, Any], *, endpoint_routing: bool) -> tuple[str, int]:
    """Where to send a request for the service ``ref``; BackendUnavailable when nowhere."""
    namespace, name = str(ref.get("namespace", "")), str(ref.get("name", ""))
    port = int(ref.get("port") or 443)
    service = server.lookup("", "services", namespace, name)
    if service is None:
        raise BackendUnavailable(f'service/{name} in "{namespace}" is not present')
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", "")), port
    service_port = _service_port(service, port)
    if endpoint_routing:
        endpoints = ready_endpoints(server, namespace, name, str(service_port.get("name") or ""))
        if not endpoints:
            raise BackendUnavailable(f'service/{name} in "{namespace}" has no ready endpoints')
        return random.choice(endpoints)
    cluster_ip = spec.get("clusterIP") or ""
    if not cluster_ip or cluster_ip == "None":
        raise BackendUnavailable(f'service/{name} in "{namespace}" has no clusterIP')
    return cluster_ip, port


# -- forwarding ---------------------------------------------------------------------------


def forwarded_headers(incoming: Mapping[str, str], user: User) -> list[tuple[str, str]]:
    """The caller's headers minus credentials and hop-by-hop ones, plus the identity headers."""
    headers = forwardable_headers(incoming.items(), _DROP_REQUEST_PREFIXES)
    headers.append(("X-Remote-User", user.name))
    headers += [("X-Remote-Group", group) for group in user.groups]
    for key, values in user.extra.items():
        headers += [(f"X-Remote-Extra-{quote(key, safe='')}", value) for value in values]
    return headers


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class AggregatorProxy:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        config = server.config
        self.client_cert = config.proxy_client_cert_file
        self.client_key = config.proxy_client_key_file
        self.endpoint_routing = config.enable_aggregator_routing
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._session: aiohttp.ClientSession | None = None
        # Told the name of an APIService whose backend just failed, so its availability is re-checked now.
        self.on_unreachable: Callable[[str], None] | None = None
        if not (self.client_cert and self.client_key):
            log.warning(
                "no --proxy-client-cert-file/--proxy-client-key-file: extension apiservers see no proxy"
            )

    def ssl_context(self, apiservice: Mapping[str, Any]) -> ssl.SSLContext:
        spec = apiservice.get("spec") or {}
        ca_bundle = str(spec.get("caBundle") or "")
        insecure = spec.get("insecureSkipTLSVerify") is True
        key = (ca_bundle, insecure)
        context = self._contexts.get(key)
        if context is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif ca_bundle:
                try:
                    context.load_verify_locations(cadata=base64.b64decode(ca_bundle).decode())
                except (ValueError, ssl.SSLError) as exc:
                    raise BackendUnavailable(f"spec.caBundle is not a PEM bundle: {exc}") from None
            if self.client_cert and self.client_key:
                context.load_cert_chain(self.client_cert, self.client_key)
            context.set_alpn_protocols(["http/1.1"])
            self._contexts[key] = context
        return context

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(
        self,
        apiservice: Mapping[str, Any],
        method: str,
        path_qs: str,
        headers: list[tuple[str, str]],
        body: bytes | None = None,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request to the APIService's backend; BackendUnavailable when it cannot be."""
        ref = service_ref(apiservice)
        if ref is None:
            raise BackendUnavailable("a Local APIService has no backend")
        host, port = resolve(self.server, ref, endpoint_routing=self.endpoint_routing)
        context = self.ssl_context(apiservice)
        try:
            return await self._client().request(
                method,
                f"https://{_host(host)}:{port}{path_qs}",
                headers=headers,
                data=body,
                ssl=context,
                server_hostname=server_name(ref) if context.check_hostname else None,
                timeout=timeout or aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT),
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
            raise BackendUnavailable(
                f"error trying to reach service: dial tcp {_host(host)}:{port}: {reason}"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise BackendUnavailable(f"error trying to reach service: {exc or type(exc).__name__}") from None

    async def handle(
        self, request: web.Request, apiservice: Mapping[str, Any], user: User
    ) -> web.StreamResponse:
        name = (apiservice.get("metadata") or {}).get("name", "")
        if not is_available(apiservice):
            raise unavailable()
        if request.headers.get("Upgrade"):
            raise errors.bad_request("upgrade requests are not proxied to aggregated APIs")
        body = await request.read() if request.can_read_body else None
        try:
            upstream = await self.open(
                apiservice, request.method, request.raw_path, forwarded_headers(request.headers, user), body
            )
        except BackendUnavailable as exc:
            log.warning("APIService %s: %s", name, exc)
            if self.on_unreachable is not None:
                self.on_unreachable(name)
            raise unavailable() from None
        return await relay(request, upstream)
