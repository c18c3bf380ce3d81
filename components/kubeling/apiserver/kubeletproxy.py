"""The apiserver's way to a pod's kubelet: pods/log|exec|attach|portforward and nodes/proxy.

The apiserver finds the pod's node, and the node's kubelet at
``https://<InternalIP>:<status.daemonEndpoints.kubeletEndpoint.Port or 10250>``,
authenticating with ``--kubelet-client-certificate``/``--kubelet-client-key``
and checking the kubelet's certificate against
``--kubelet-certificate-authority`` (neither when unset, said once in the log).

Plain requests (logs, most of nodes/proxy) are re-issued to the kubelet and
the answer streamed back as it comes, so ``logs -f`` stays open until either
side ends.  Upgrades (exec, attach, port-forward: WebSocket or SPDY) are
forwarded as they are; once the kubelet answers 101 the apiserver relays the
101 and splices the two raw connections both ways until either closes, like
upstream's upgrade-aware proxy: it never needs to understand the protocols.
Authorization of the subresource itself happened before (RBAC on pods/exec ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver import podsubresources
from kubeling.apiserver.authz.attributes import Attributes, forbidden_error
from kubeling.apiserver.relay import HOP_HEADERS, relay
from kubeling.apiserver.requestinfo import RequestInfo
from kubeling.kubelet.streaming import upgrade

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

DEFAULT_KUBELET_PORT = 10250
_KUBELET_PATHS = {"log": "containerLogs", "exec": "exec", "attach": "attach", "portforward": "portForward"}
# Headers that belong to the client's hop, or carry its credentials: never forwarded to the kubelet.
_DROP_REQUEST = {
    "host",
    "authorization",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
}
_CONNECT_TIMEOUT = 10.0


def handles(info: RequestInfo) -> bool:
    if not info.is_resource_request or info.group != "" or not info.name:
        return False
    if info.resource == "pods":
        return info.subresource in podsubresources.STREAMING and bool(info.namespace) and len(info.parts) == 3
    return info.resource == "nodes" and info.subresource == "proxy"


def is_upgrade(request: web.Request) -> bool:
    return "upgrade" in request.headers.get("Connection", "").lower() and bool(request.headers.get("Upgrade"))


def kubelet_endpoint(node: dict[str, Any]) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    host = ""
    for kind in ("InternalIP", "ExternalIP", "Hostname"):
        host = next(
            (a.get("address", "") for a in addresses if a.get("type") == kind and a.get("address")), ""
        )
        if host:
            break
    if not host:
        raise errors.StatusError(
            503, "ServiceUnavailable", f'no preferred addresses found for node "{node["metadata"]["name"]}"'
        )
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    return host, int(endpoint.get("Port") or DEFAULT_KUBELET_PORT)


def node_proxy_path(path: str, node: str, query: str = "") -> str:
    """The kubelet path a nodes/NAME/proxy/... request asks for (``/`` when it names none)."""
    prefix = f"/api/v1/nodes/{node}/proxy"
    rest = path[len(prefix) :] if path.startswith(prefix) else ""
    rest = rest if rest.startswith("/") else "/"
    return f"{rest}?{query}" if query else rest


class KubeletProxy:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        config = server.config
        self.client_cert = config.kubelet_client_certificate
        self.client_key = config.kubelet_client_key
        self.certificate_authority = config.kubelet_certificate_authority
        self._context: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None
        self._insecure: ssl.SSLContext | None = None

    def set_client_certificate(self, cert: str, key: str) -> None:
        """Credentials for kubelets, given after start (the all-in-one server makes them then)."""
        self.client_cert, self.client_key = cert, key
        self._context = self._insecure = None

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            if self.certificate_authority:
                context.load_verify_locations(self.certificate_authority)
            else:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                log.warning(
                    "no --kubelet-certificate-authority: kubelets' serving certificates are not verified"
                )
            if self.client_cert and self.client_key:
                context.load_cert_chain(self.client_cert, self.client_key)
            else:
                log.warning(
                    "no --kubelet-client-certificate/--kubelet-client-key: kubelets see no client identity"
                )
            context.set_alpn_protocols(["http/1.1"])
            self._context = context
        return self._context

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- entry ---------------------------------------------------------------------------

    async def handle(self, request: web.Request, info: RequestInfo, user: Any = None) -> web.StreamResponse:
        if user is not None and info.resource == "pods" and info.verb == "get" and is_upgrade(request):
            self._authorize_create(user, info)
        if info.resource == "pods":
            host, port, path = await self._pod_target(request, info)
        else:
            node = await self.server.store("", "v1", "nodes").get("", info.name)
            host, port = kubelet_endpoint(node)
            path = node_proxy_path(request.path, info.name, request.query_string)
        if is_upgrade(request):
            return await self._splice(request, host, port, path)
        # pods/log may ask not to verify the kubelet's certificate (upstream's insecureSkipTLSVerifyBackend).
        insecure = info.subresource == "log" and request.query.get("insecureSkipTLSVerifyBackend") == "true"
        return await self._forward(request, host, port, path, insecure=insecure)

    def _authorize_create(self, user: Any, info: RequestInfo) -> None:
        """A WebSocket upgrade arrives as GET, yet it runs commands: ask for ``create`` too, as upstream.

        (Upstream's AuthorizePodWebsocketUpgradeCreatePermission: ``get`` on pods/exec alone must not
        open a shell.)
        """
        authorizer = self.server.authorizer
        if authorizer is None or info.subresource == "log":
            return
        attrs = Attributes(
            user=user.name, groups=tuple(user.groups), verb="create", namespace=info.namespace,
            resource="pods", subresource=info.subresource, name=info.name,
        )  # fmt: skip
        decision = authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)

    async def _pod_target(self, request: web.Request, info: RequestInfo) -> tuple[str, int, str]:
        pod = await self.server.store("", "v1", "pods").get(info.namespace, info.name)
        container = podsubresources.check_streamable(pod, info.subresource, request.query.get("container"))
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        if not node_name:
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        try:
            node = await self.server.store("", "v1", "nodes").get("", node_name)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise
            raise errors.StatusError(503, "ServiceUnavailable", f'node "{node_name}" not found') from None
        host, port = kubelet_endpoint(node)
        parts = [_KUBELET_PATHS[info.subresource], info.namespace, info.name]
        if info.subresource != "portforward":
            parts.append(container)
        query = [
            (k, v) for k, v in request.query.items() if k not in ("container", "insecureSkipTLSVerifyBackend")
        ]
        path = "/" + "/".join(quote(p, safe="") for p in parts)
        if query:
            path += "?" + urlencode(query)
        return host, port, path

    # -- plain requests ----------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The context is passed per request: one pool serves verified and unverified requests.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
            )
        return self._session

    def _unverified_context(self) -> ssl.SSLContext:
        if self._insecure is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if self.client_cert and self.client_key:
                context.load_cert_chain(self.client_cert, self.client_key)
            self._insecure = context
        return self._insecure

    async def _forward(
        self, request: web.Request, host: str, port: int, path: str, *, insecure: bool = False
    ) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
        body = await request.read() if request.can_read_body else None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT)
        try:
            upstream = await self._client().request(
                request.method,
                f"https://{_host(host)}:{port}{path}",
                headers=headers,
                data=body,
                timeout=timeout,
                ssl=self._unverified_context() if insecure else self.ssl_context(),
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _unreachable(host, port, exc) from None
        return await relay(request, upstream)

    # -- upgrades ---------------------------------------------------------------------------

    async def _splice(self, request: web.Request, host: str, port: int, path: str) -> web.StreamResponse:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self.ssl_context(), server_hostname=host),
                _CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise _unreachable(host, port, exc) from None
        try:
            head = [f"{request.method} {path} HTTP/1.1", f"Host: {_host(host)}:{port}"]
            head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            status, _reason, headers = await _read_head(reader)
            if status != 101:
                body = await _read_body(reader, headers)
                content_type = next((v for k, v in headers if k.lower() == "content-type"), "text/plain")
                return web.Response(status=status, body=body, headers={"Content-Type": content_type})
            kept = {k: v for k, v in headers if k.lower() not in HOP_HEADERS}
            kept["Connection"] = "Upgrade"
            client = await upgrade.hijack(request, kept)
            await _pump_both(client, reader, writer)
            return client.response
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _pump_both(client: upgrade.UpgradedConnection, reader: asyncio.StreamReader, writer: Any) -> None:
    async def to_kubelet() -> None:
        while data := await client.read():
            writer.write(data)
            await writer.drain()

    async def to_client() -> None:
        while data := await reader.read(65536):
            await client.write(data)

    tasks = [asyncio.create_task(to_kubelet()), asyncio.create_task(to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _CONNECT_TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        raise errors.StatusError(502, "BadGateway", f"bad answer from the kubelet: {exc}") from None
    lines = raw.decode("latin-1").split("\r\n")
    try:
        _, code, *reason = lines[0].split(" ", 2)
        status = int(code)
    except ValueError:
        raise errors.StatusError(
            502, "BadGateway", f"bad status line from the kubelet: {lines[0]!r}"
        ) from None
    headers = []
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    return status, reason[0] if reason else "", headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    with contextlib.suppress(asyncio.IncompleteReadError, TimeoutError, ValueError):
        if length is not None:
            return await asyncio.wait_for(reader.readexactly(int(length)), _CONNECT_TIMEOUT)
        return await asyncio.wait_for(reader.read(1 << 20), _CONNECT_TIMEOUT)
    return b""


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _unreachable(host: str, port: int, exc: BaseException) -> errors.StatusError:
    return errors.StatusError(
        502, "BadGateway", f"error dialing the kubelet at {_host(host)}:{port}: {exc or type(exc).__name__}"
    )
