"""The reverse proxy: aiohttp's low-level server on the HTTP and HTTPS ports.

Per request: read the current snapshot once, route by Host and path, order
the backend's upstreams (balancer), open the upstream request and stream
both bodies through without buffering them.  Connections to upstreams are
pooled (HTTP/1.1 keep-alive on both sides).  A connection that cannot be
opened is retried on the next upstream (as nginx's ``proxy_next_upstream
error``), up to three; a pooled connection the upstream closed is retried
likewise for requests without a body.  Answers of our own: 404 no rule
matched and no default backend, 503 the backend has no ready endpoint, 502
the upstream failed, 504 it did not answer in time.

Headers: hop-by-hop headers (and those ``Connection`` lists) are dropped both
ways; ``Host`` is kept; ``X-Forwarded-For`` / ``X-Real-IP`` (the client's
address, as ingress-nginx sets them by default), ``X-Forwarded-Host``,
``-Port``, ``-Proto`` and ``-Scheme`` are set.  ``Upgrade: websocket``
requests are relayed message by message over a WebSocket to the upstream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from kubeling.ingress.backends import Balancer, Upstream
from kubeling.ingress.metrics import IngressMetrics
from kubeling.ingress.routing import Backend, normalize_host
from kubeling.ingress.snapshot import Snapshot

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
FORWARDED = frozenset(
    {"x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto"}
)
MAX_TRIES = 3


def _dropped(headers: Mapping[str, str]) -> set[str]:
    """Hop-by-hop headers: the fixed ones and those the message's ``Connection`` header lists."""
    listed = {h.strip().lower() for h in headers.get("Connection", "").split(",") if h.strip()}
    return HOP_BY_HOP | listed


def upstream_headers(request: web.BaseRequest, port: int) -> CIMultiDict[str]:
    dropped = _dropped(request.headers) | FORWARDED
    headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in dropped)
    client = request.remote or ""
    scheme = "https" if request.secure else "http"
    headers["X-Forwarded-For"] = client
    headers["X-Real-IP"] = client
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Port"] = str(port)
    headers["X-Forwarded-Proto"] = scheme
    headers["X-Forwarded-Scheme"] = scheme
    return headers


def _is_websocket(request: web.BaseRequest) -> bool:
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return request.headers.get("Upgrade", "").lower() == "websocket" and "upgrade" in connection


class ReverseProxy:
    def __init__(
        self,
        *,
        snapshot: Callable[[], Snapshot],
        balancer: Balancer | None = None,
        metrics: IngressMetrics | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.snapshot = snapshot
        self.balancer = balancer or Balancer()
        self.metrics = metrics or IngressMetrics()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=False),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
                ),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.monotonic()
        snapshot = self.snapshot()
        backend = snapshot.table.route(request.host, request.path)
        response = await self._serve(request, snapshot, backend)
        labels = {
            "ingress": backend.ingress if backend else "",
            "namespace": backend.namespace if backend else "",
            "service": backend.service if backend else "",
        }
        self.metrics.requests.inc(
            **labels, status=str(response.status), method=request.method, host=normalize_host(request.host)
        )
        self.metrics.duration.observe(time.monotonic() - started, **labels, method=request.method)
        return response

    async def _serve(
        self, request: web.BaseRequest, snapshot: Snapshot, backend: Backend | None
    ) -> web.StreamResponse:
        if backend is None:
            return web.Response(status=404, text="default backend - 404\n")
        upstreams = self.balancer.order(backend.key, snapshot.upstreams_of(backend))
        if not upstreams:
            return web.Response(status=503, text="503 Service Temporarily Unavailable\n")
        port = _local_port(request)
        headers = upstream_headers(request, port)
        if _is_websocket(request):
            return await self._websocket(request, upstreams[0], headers)
        return await self._forward(request, upstreams[:MAX_TRIES], headers)

    async def _forward(
        self, request: web.BaseRequest, upstreams: list[Upstream], headers: CIMultiDict[str]
    ) -> web.StreamResponse:
        has_body = request.body_exists
        for attempt, upstream in enumerate(upstreams, start=1):
            url = f"http://{upstream.authority()}{request.raw_path}"
            try:
                answer = await self.session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=request.content if has_body else None,
                    allow_redirects=False,
                    compress=None,
                    chunked=None,
                )
            except aiohttp.ClientConnectorError as exc:
                log.debug("upstream %s unreachable (%s), try %d", upstream.authority(), exc, attempt)
                continue
            except aiohttp.ServerDisconnectedError:
                if has_body:
                    return web.Response(status=502, text="502 Bad Gateway\n")
                continue  # a pooled connection the upstream had closed: nothing was processed
            except TimeoutError:
                return web.Response(status=504, text="504 Gateway Time-out\n")
            except aiohttp.ClientError as exc:
                log.info("upstream %s failed: %s", upstream.authority(), exc)
                return web.Response(status=502, text="502 Bad Gateway\n")
            async with answer:
                return await self._relay(request, answer)
        return web.Response(status=502, text="502 Bad Gateway\n")

    async def _relay(self, request: web.BaseRequest, answer: aiohttp.ClientResponse) -> web.StreamResponse:
        dropped = _dropped(answer.headers)
        response = web.StreamResponse(status=answer.status, reason=answer.reason)
        for key, value in answer.headers.items():
            if key.lower() not in dropped:
                response.headers.add(key, value)
        await response.prepare(request)
        try:
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            # The client or the upstream went away mid-body: nothing more can be said to the client.
            log.debug("body of %s %s cut short: %r", request.method, request.path, exc)
            if request.transport is not None:
                request.transport.close()
        return response

    async def _websocket(
        self, request: web.BaseRequest, upstream: Upstream, headers: CIMultiDict[str]
    ) -> web.StreamResponse:
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        for name in list(headers):
            if name.lower().startswith("sec-websocket-"):
                del headers[name]
        try:
            backend_ws = await self.session.ws_connect(
                f"http://{upstream.authority()}{request.raw_path}", headers=headers, protocols=protocols
            )
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status or 502, text="upstream refused the WebSocket\n")
        except (aiohttp.ClientError, TimeoutError):
            return web.Response(status=502, text="502 Bad Gateway\n")
        client_ws = web.WebSocketResponse(protocols=[backend_ws.protocol] if backend_ws.protocol else ())
        await client_ws.prepare(request)  # type: ignore[arg-type]
        async with backend_ws:
            await asyncio.gather(_pump(client_ws, backend_ws), _pump(backend_ws, client_ws))
        return client_ws


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
    await sink.close(code=source.close_code or aiohttp.WSCloseCode.OK)


def _local_port(request: web.BaseRequest) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else (443 if request.secure else 80)
