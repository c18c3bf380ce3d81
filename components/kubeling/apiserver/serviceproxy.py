"""The services/proxy and pods/proxy subresources: HTTP to a Service's endpoint or a pod, via the apiserver.

``/api/v1/namespaces/NS/services/[scheme:]NAME[:port]/proxy/PATH`` (and the
same under ``pods/``) re-issues the request to a backend reached over the
apiserver's own network, as upstream's proxy REST storage does:

- a Service: the port part is a port name, or a port number mapped to the
  name of the Service port with that number (503 when none); a ready address
  of its EndpointSlices serving that port name is picked at random (503
  "no endpoints available" when none);
- a pod: its IP, with the given port or the first declared container port;
- ``https`` speaks TLS to the backend without verifying it (upstream's proxy
  transport does not either); any other scheme, or none, is plain HTTP.

RBAC was asked before, on the subresource with the verb of the HTTP method
(get, create, update, patch, delete). The caller's credentials never reach the
backend. A request naming no path at all is redirected to the same URL with a
trailing ``/`` (upstream's fix for relative links); absolute ``Location``
answers of the backend are re-rooted under the proxy prefix. Upgrades
(WebSocket) are not proxied here.
"""

from __future__ import annotations

import logging
import random
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from yarl import URL

from kubeling.api import errors
from kubeling.apiserver.aggregator import SERVICE_NAME_LABEL
from kubeling.apiserver.relay import HOP_HEADERS, forwardable_headers
from kubeling.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 10.0
_DROP_REQUEST_PREFIXES = ("impersonate-",)  # besides the client hop headers


@dataclass(frozen=True)
class ProxyTarget:
    scheme: str  # "http" or "https"
    name: str
    port: str  # a port name, a number, or "" (the default)


def handles(info: RequestInfo) -> bool:
    return (
        info.is_resource_request
        and info.group == ""
        and info.resource in ("services", "pods")
        and info.subresource == "proxy"
        and bool(info.namespace and info.name)
    )


def split_scheme_name_port(text: str) -> ProxyTarget:
    """``[scheme:]name[:port]`` as upstream's SplitSchemeNamePort reads it; 400 when malformed."""
    parts = text.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        raise errors.bad_request(f"invalid service request {text!r}")
    if not name or scheme not in ("", "http", "https"):
        raise errors.bad_request(f"invalid service request {text!r}")
    return ProxyTarget(scheme or "http", name, port)


def proxy_prefix(info: RequestInfo) -> str:
    return f"/api/{info.version}/namespaces/{info.namespace}/{info.resource}/{info.name}/proxy"


_PREFIX_SEGMENTS = 7  # api, v1, namespaces, NS, services|pods, NAME, proxy


def backend_path(raw_path: str) -> str | None:
    """The path (with query, still encoded) the backend is asked for; None when the request named none."""
    path, _, query = raw_path.partition("?")
    segments = path.split("/")  # a leading "" for the leading slash
    if len(segments) <= _PREFIX_SEGMENTS + 1:
        return None
    return "/" + "/".join(segments[_PREFIX_SEGMENTS + 1 :]) + (f"?{query}" if query else "")


def rewrite_location(location: str, prefix: str) -> str:
    """A backend's absolute-path redirect stays under the proxy prefix (full URLs are left alone)."""
    if location.startswith("/") and not location.startswith("//") and not location.startswith(prefix):
        return prefix + location
    return location


def service_endpoint(service: dict[str, Any], slices: list[dict[str, Any]], port: str) -> tuple[str, int]:
    """A ready (address, port) of ``service`` for the Service port ``port`` (name or number)."""
    name = service["metadata"]["name"]
    port_name = port
    if port.isdigit():
        number = int(port)
        matching = [p for p in (service.get("spec") or {}).get("ports") or [] if p.get("port") == number]
        if not matching:
            raise errors.StatusError(
                503, "ServiceUnavailable", f'no service port {number} found for service "{name}"'
            )
        port_name = matching[0].get("name") or ""
    found: list[tuple[str, int]] = []
    for eps in slices:
        if ((eps.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) != name:
            continue
        numbers = [p.get("port") for p in eps.get("ports") or [] if (p.get("name") or "") == port_name]
        if not numbers or not isinstance(numbers[0], int):
            continue
        for endpoint in eps.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            found += [(address, numbers[0]) for address in (endpoint.get("addresses") or [])[:1]]
    if not found:
        raise errors.StatusError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
    return random.choice(found)


def pod_endpoint(pod: dict[str, Any], port: str) -> tuple[str, int]:
    """The pod's IP and the given port, else its first declared container port (80 when none)."""
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        raise errors.StatusError(
            503, "ServiceUnavailable", f'pod "{pod["metadata"]["name"]}" has no IP address yet'
        )
    if port:
        if not port.isdigit():
            named = [
                p.get("containerPort")
                for c in (pod.get("spec") or {}).get("containers") or []
                for p in c.get("ports") or []
                if p.get("name") == port
            ]
            if not named:
                raise errors.bad_request(f'pod "{pod["metadata"]["name"]}" has no port named {port!r}')
            return ip, int(named[0])
        return ip, int(port)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("containerPort"):
                return ip, int(declared["containerPort"])
    return ip, 80


class ServiceProxy:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._session: aiohttp.ClientSession | None = None
        self._unverified = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE

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

    async def handle(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if request.headers.get("Upgrade"):
            raise errors.bad_request(f"upgrade requests are not proxied to {info.resource}")
        target = split_scheme_name_port(info.name)
        prefix = proxy_prefix(info)
        path = backend_path(request.raw_path)
        if path is None:
            query = f"?{request.query_string}" if request.query_string else ""
            raise web.HTTPMovedPermanently(location=request.path.rstrip("/") + "/" + query)
        host, port = await self._resolve(info, target)
        return await self._forward(request, target.scheme, host, port, path, prefix)

    async def _resolve(self, info: RequestInfo, target: ProxyTarget) -> tuple[str, int]:
        if info.resource == "pods":
            pod = await self.server.store("", "v1", "pods").get(info.namespace, target.name)
            return pod_endpoint(pod, target.port)
        service = await self.server.store("", "v1", "services").get(info.namespace, target.name)
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return str(spec.get("externalName", "")), int(target.port) if target.port.isdigit() else 80
        slices_resource = self.server.registry.preferred("discovery.k8s.io", "endpointslices")
        slices = []
        if slices_resource is not None and self.server.cache is not None:
            slices = self.server.cache.list(
                slices_resource.storage_prefix, slices_resource.namespace_prefix(info.namespace)
            )
        return service_endpoint(service, slices, target.port)

    async def _forward(
        self, request: web.Request, scheme: str, host: str, port: int, path: str, prefix: str
    ) -> web.StreamResponse:
        headers = forwardable_headers(request.headers.items(), _DROP_REQUEST_PREFIXES)
        headers.append(("X-Forwarded-Uri", request.raw_path))
        body = await request.read() if request.can_read_body else None
        address = f"[{host}]" if ":" in host else host
        try:
            upstream = await self._client().request(
                request.method,
                URL(f"{scheme}://{address}:{port}{path}", encoded=True),
                headers=headers,
                data=body,
                ssl=self._unverified if scheme == "https" else False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT),
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise errors.StatusError(
                503, "ServiceUnavailable", f"error trying to reach service: {exc or type(exc).__name__}"
            ) from None
        return await _relay(request, upstream, prefix)


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse, prefix: str) -> web.StreamResponse:
    """Stream the backend's answer back (like relay.relay), re-rooting its redirects under ``prefix``."""
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for key, value in upstream.headers.items():
            if key.lower() in HOP_HEADERS:
                continue
            response.headers.add(key, rewrite_location(value, prefix) if key.lower() == "location" else value)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            pass
        await response.write_eof()
    return response
