"""The kubelet's HTTPS server (port 10250): logs, exec, attach, port-forward, pods, stats, metrics.

Every request but ``/healthz`` is authenticated (client certificate or a
TokenReview) and authorized (a SubjectAccessReview on this Node) through
:mod:`kubeling.kubelet.serverauth`.  The pod-facing endpoints resolve a
(namespace, pod, container) to runtime ids with a :class:`PodsSource`, then
hand the runtime's streams to the protocol modules in
:mod:`kubeling.kubelet.streaming`:

- ``/containerLogs/{ns}/{pod}/{container}``: a plain chunked response;
  with ``follow`` it stays open until the container's log ends or the client
  leaves.
- ``/exec/{ns}/{pod}/{container}`` and ``/attach/...``: WebSocket with the
  channel protocol (v5, v4), or SPDY/3.1 streams after ``Upgrade: SPDY/3.1``
  (v5 ... v1) for clients without the WebSocket path.
- ``/portForward/{ns}/{pod}``: SPDY/3.1, either tunnelled in a WebSocket
  (``SPDY/3.1+portforward.k8s.io``) or after ``Upgrade: SPDY/3.1``; or the
  older channel WebSocket (``v4.channel.k8s.io`` with ``?port=``).

The apiserver reaches all of these through its kubelet proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
import ssl
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson
from aiohttp import WSMsgType, web

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.kubelet import runtime as rt
from kubeling.kubelet.podsource import PodsSource
from kubeling.kubelet.serverauth import DelegatedAuth
from kubeling.kubelet.streaming import (
    channels,
    portforward,
    remotecommand,
    spdyexec,
    upgrade,
    wsportforward,
)

log = logging.getLogger(__name__)

# The status a streaming handler already sent, for counting requests that end by cancellation.
_ANSWERED = web.RequestKey("answered", int)


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body.update({"message": message, "reason": reason, "code": code})
    return web.Response(body=orjson.dumps(body), status=code, content_type="application/json")


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = int(value)
    except ValueError:
        raise web.HTTPBadRequest(text=f"invalid {name}: {value!r}") from None
    if parsed < 0:
        raise web.HTTPBadRequest(text=f"{name} must not be negative")
    return parsed


def _offered_protocols(request: web.Request) -> list[str]:
    values = ",".join(request.headers.getall("X-Stream-Protocol-Version", []))
    return [v.strip() for v in values.split(",") if v.strip()]


class _WebSocketBytes:
    """A WebSocket's binary messages as one byte stream (for SPDY tunnelled in WebSocket)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def read(self) -> bytes:
        while True:
            message = await self.ws.receive()
            if message.type == WSMsgType.BINARY:
                if message.data:
                    return bytes(message.data)
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                return b""

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    def close(self) -> None:
        pass  # the handler closes the WebSocket once the session returns


class KubeletServer:
    def __init__(
        self,
        runtime: rt.Runtime,
        pods_source: PodsSource,
        *,
        tls_cert: str,
        tls_key: str,
        client_ca: str = "",
        api_client: RESTClient | None = None,
        port: int = 10250,
        address: str = "0.0.0.0",
        node_name: str = "",
        node_log_dir: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.node_log_dir = node_log_dir  # /logs/ serves it (None: debugging handlers off)
        self.pods = pods_source
        self.tls_cert, self.tls_key, self.client_ca = tls_cert, tls_key, client_ca
        self.port = port
        self.address = address
        self.node_name = node_name or socket.gethostname().lower()
        self.auth = DelegatedAuth(api_client, self.node_name)
        self.started_at = time.time()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self._runner: web.AppRunner | None = None
        self._cpu_sample: tuple[float, int] | None = None

    # -- lifecycle -----------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls_cert, self.tls_key)
        if self.client_ca:
            # Certificates are optional: callers without one authenticate by token.
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(self.client_ca)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        routes = [
            web.get("/healthz", self._healthz),
            web.get("/pods", self._pods),
            web.get("/containerLogs/{namespace}/{pod}/{container}", self._logs),
            web.route("*", "/exec/{namespace}/{pod}/{container}", self._exec),
            web.route("*", "/attach/{namespace}/{pod}/{container}", self._attach),
            web.route("*", "/portForward/{namespace}/{pod}", self._port_forward),
            web.get("/stats/summary", self._summary),
            web.get("/metrics", self._metrics),
            web.get("/metrics/resource", self._resource_metrics),
        ]
        if self.node_log_dir is not None:
            from kubeling.kubelet.nodelogs import NodeLogs

            routes += NodeLogs(self.node_log_dir).routes()
        app.add_routes(routes)
        return app

    async def start(self) -> int:
        # Open streams (logs -f, exec) are cut after 2 s on stop rather than holding the kubelet for a minute.
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=self.ssl_context())
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("kubelet server listening on %s:%d", self.address, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- authentication and authorization --------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        status = 500
        try:
            if request.path != "/healthz":
                try:
                    identity = await self.auth.authenticate(request)
                    if identity is None:
                        status = 401
                        return web.Response(status=401, text="Unauthorized")
                    allowed, reason = await self.auth.authorize(identity, request.method, request.path)
                except (StatusError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    # The apiserver judges callers; while it cannot, nobody gets in.
                    log.warning("cannot review a caller with the apiserver: %s", exc)
                    status = 503
                    return web.Response(status=503, text="authentication or authorization is unavailable")
                if not allowed:
                    status = 403
                    return web.Response(status=403, text=reason)
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            # The client left mid-stream; count what it had been answered (nginx's 499 if nothing).
            status = request.get(_ANSWERED, 499)
            raise
        except rt.NotFound as exc:
            status = 404
            return _status(404, "NotFound", str(exc))
        finally:
            self.requests[(request.method, request.path.split("/")[1], status)] += 1

    # -- simple endpoints --------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, request: web.Request) -> web.Response:
        items = await self.pods.list_pods()
        body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _container(self, request: web.Request, *, previous: bool = False) -> str:
        info = request.match_info
        ns, pod, name = info["namespace"], info["pod"], info["container"]
        container_id = await self.pods.container_id(ns, pod, name, previous=previous)
        if container_id is None:
            what = "previous terminated container" if previous else "container"
            raise rt.NotFound(f'{what} "{name}" in pod "{pod}" not found')
        return container_id

    # -- logs --------------------------------------------------------------------------

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        container_id = await self._container(request, previous=_flag(request, "previous"))
        since: float | None = None
        since_seconds = _int(request, "sinceSeconds")
        if since_seconds is not None:
            since = time.time() - since_seconds
        elif request.query.get("sinceTime"):
            try:
                since = datetime.datetime.fromisoformat(
                    request.query["sinceTime"].replace("Z", "+00:00")
                ).timestamp()
            except ValueError:
                raise web.HTTPBadRequest(text="invalid sinceTime") from None
        lines = self.runtime.logs(
            container_id,
            follow=_flag(request, "follow"),
            tail_lines=_int(request, "tailLines"),
            since=since,
            timestamps=_flag(request, "timestamps"),
            limit_bytes=_int(request, "limitBytes"),
        )
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        request[_ANSWERED] = 200
        try:
            async for chunk in lines:
                await response.write(chunk)
        except (ConnectionError, asyncio.CancelledError):
            raise
        finally:
            with contextlib.suppress(Exception):
                await lines.aclose()  # type: ignore[attr-defined]
        await response.write_eof()
        return response

    # -- exec / attach -------------------------------------------------------------------

    def _websocket(self, request: web.Request, protocols: tuple[str, ...]) -> web.WebSocketResponse | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=0, heartbeat=None)
        ready = ws.can_prepare(request)
        return ws if ready.ok and ready.protocol in protocols else None

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        command = request.query.getall("command", [])
        if not command:
            raise web.HTTPBadRequest(text="you must specify at least one command for the container")
        return await self._remote_command(request, command)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        return await self._remote_command(request, None)

    async def _remote_command(self, request: web.Request, command: list[str] | None) -> web.StreamResponse:
        stdin, stdout, stderr, tty = (_flag(request, n) for n in ("stdin", "stdout", "stderr", "tty"))
        if not (stdin or stdout or stderr):
            raise web.HTTPBadRequest(text="you must specify at least one of stdin, stdout, stderr")
        container_id = await self._container(request)

        async def start() -> rt.Stream:
            if command is None:
                return await self.runtime.attach(container_id, tty=tty, stdin=stdin)
            return await self.runtime.exec(container_id, command, tty=tty, stdin=stdin)

        if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
            return await self._spdy_remote_command(request, start, command, stdin, stdout, stderr, tty)
        ws = self._websocket(request, channels.PROTOCOLS)
        if ws is None:
            raise web.HTTPBadRequest(
                text="a WebSocket upgrade with one of the subprotocols "
                f"{', '.join(channels.PROTOCOLS)} is required"
            )
        await ws.prepare(request)
        request[_ANSWERED] = 101
        try:
            stream = await start()
        except rt.RuntimeFailure as exc:
            status = channels.error_status(str(exc))
            await remotecommand.sender(ws)(channels.ERROR, orjson.dumps(status))
            await ws.close()
            return ws
        await remotecommand.serve(
            ws, stream, stdin=stdin, stdout=stdout, stderr=stderr and not tty, tty=tty, command=command
        )
        return ws

    async def _spdy_remote_command(
        self,
        request: web.Request,
        start: Any,
        command: list[str] | None,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> web.StreamResponse:
        offered = _offered_protocols(request)
        protocol = spdyexec.negotiate(offered)
        if protocol is None:
            raise web.HTTPForbidden(
                text=f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                f"server accepts {list(spdyexec.PROTOCOLS)}",
                headers={"X-Accepted-Stream-Protocol-Versions": ", ".join(spdyexec.PROTOCOLS)},
            )
        headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
        if offered:
            headers["X-Stream-Protocol-Version"] = protocol
        raw = await upgrade.hijack(request, headers)
        request[_ANSWERED] = 101
        session = spdyexec.SpdyRemoteCommand(
            raw, protocol=protocol, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty, command=command
        )
        await session.serve(start)
        return raw.response

    # -- port-forward ---------------------------------------------------------------------

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        sandbox_id = await self.pods.sandbox_id(ns, pod)
        if sandbox_id is None:
            raise rt.NotFound(f'pod "{pod}" in namespace "{ns}" has no running sandbox')

        async def dial(port: int) -> tuple[Any, Any]:
            return await self.runtime.port_forward(sandbox_id, port)

        conn: portforward.ByteStream
        ws = self._websocket(request, (portforward.WEBSOCKET_PROTOCOL,))
        if ws is not None:
            await ws.prepare(request)
            request[_ANSWERED] = 101
            conn = _WebSocketBytes(ws)
            await portforward.PortForwardSession(conn, dial, pod=f"{ns}/{pod}").run()
            await ws.close()
            return ws
        ws = self._websocket(request, (wsportforward.PROTOCOL,))
        if ws is not None:
            try:
                ports = wsportforward.parse_ports(
                    request.query.getall("port", []) + request.query.getall("ports", [])
                )
            except ValueError as exc:
                raise web.HTTPBadRequest(text=str(exc)) from None
            await ws.prepare(request)
            request[_ANSWERED] = 101
            await wsportforward.serve(ws, ports, dial, pod=f"{ns}/{pod}")
            return ws
        if request.headers.get("Upgrade", "").lower() != "spdy/3.1":
            raise web.HTTPBadRequest(text="port-forward needs Upgrade: SPDY/3.1 or a WebSocket")
        offered = _offered_protocols(request)
        if portforward.PROTOCOL not in offered:
            raise web.HTTPForbidden(text=f"unable to upgrade: no supported protocol in {offered}")
        conn = raw = await upgrade.hijack(
            request,
            {
                "Connection": "Upgrade",
                "Upgrade": "SPDY/3.1",
                "X-Stream-Protocol-Version": portforward.PROTOCOL,
            },
        )
        request[_ANSWERED] = 101
        await portforward.PortForwardSession(conn, dial, pod=f"{ns}/{pod}").run()
        return raw.response

    # -- stats and metrics ------------------------------------------------------------------

    async def _summary(self, request: web.Request) -> web.Response:
        from kubeling.kubelet.summary import summary

        body = await summary(self.runtime, self.pods, self.node_name, self.started_at, self)
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _resource_metrics(self, request: web.Request) -> web.Response:
        from kubeling.kubelet.summary import resource_metrics_text, summary

        body = await summary(self.runtime, self.pods, self.node_name, self.started_at, self)
        return web.Response(text=resource_metrics_text(body), content_type="text/plain", charset="utf-8")

    async def _metrics(self, request: web.Request) -> web.Response:
        from kubeling.kubelet.summary import metrics_text

        text = await metrics_text(self.pods, self.requests, self.started_at)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
