"""Server-sent events: the watches a page needs, made as the user, and a pod's followed log.

``/live?w=<watch>&w=<watch>...`` serves every live block of a page over one
stream (browsers allow few connections per server); each ``w`` is a query
string ``kind=K&namespace=N&labelSelector=..&fieldSelector=..``. Each watch
lists once (``limit=1``, for the resourceVersion and to learn early that RBAC
says no), then watches from there and sends one ``change`` event per watch
event; the page then fetches itself and swaps its live blocks. A refusal is
a ``failure`` event with the apiserver's message (that watch ends, the others
go on). Watches are re-opened from the last resourceVersion when the apiserver
ends them, from a fresh list after a 410 or a lost connection; a comment line
every 20 s keeps proxies from closing an idle stream and tells us when the
browser has gone, which ends the watches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import aiohttp
import orjson
from aiohttp import web

from kubeling.api.errors import StatusError
from kubeling.dashboard.kinds import KINDS, Kind
from kubeling.dashboard.userapi import UserAPI

if TYPE_CHECKING:
    from kubeling.dashboard.server import Dashboard

KEEPALIVE = 20.0
RETRY_DELAY = 2.0
WATCH_TIMEOUT = 240


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    return response


async def send(response: web.StreamResponse, event: str, data: str) -> None:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    await response.write(f"event: {event}\n{lines}\n".encode())


async def _keepalive(response: web.StreamResponse) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE)
        await response.write(b": keepalive\n\n")


@dataclass(frozen=True)
class WatchSpec:
    kind: Kind
    namespace: str
    selectors: tuple[tuple[str, str], ...]


def parse_watch(text: str) -> WatchSpec:
    query = dict(parse_qsl(text))
    kind = KINDS.get(query.get("kind", ""))
    if kind is None:
        raise web.HTTPBadRequest(text=f"unknown kind in watch {text!r}")
    namespace = query.get("namespace", "") if kind.namespaced else ""
    selectors = tuple((k, query[k]) for k in ("labelSelector", "fieldSelector") if query.get(k))
    return WatchSpec(kind, namespace, selectors)


def _watch_error(obj: dict) -> StatusError:
    return StatusError(
        int(obj.get("code") or 500), str(obj.get("reason") or ""), str(obj.get("message") or "")
    )


async def _watch_once(user: UserAPI, spec: WatchSpec, response: web.StreamResponse) -> None:
    """List for a resourceVersion, then watch from it (re-opened when the apiserver ends it)."""
    selectors = dict(spec.selectors)
    path = spec.kind.path(spec.namespace)
    first = await user.get(path, limit="1", **selectors)
    version = (first.get("metadata") or {}).get("resourceVersion", "")
    while True:
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(WATCH_TIMEOUT),
                  "resourceVersion": version, **selectors}  # fmt: skip
        async for line in user.lines(path, params):
            if not line.strip():
                continue
            event = orjson.loads(line)
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                raise _watch_error(obj)
            version = (obj.get("metadata") or {}).get("resourceVersion", version)
            if event.get("type") != "BOOKMARK":
                name = (obj.get("metadata") or {}).get("name", "")
                await send(response, "change", f"{spec.kind.plural} {event.get('type')} {name}")


async def _follow(user: UserAPI, spec: WatchSpec, response: web.StreamResponse) -> None:
    """One watch for as long as the page is open: a refusal is told once and ends it; a lost
    connection or an expired resourceVersion (410) starts over with a fresh list and a catch-up."""
    while True:
        try:
            await _watch_once(user, spec, response)
        except StatusError as exc:
            if exc.code != 410:
                await send(response, "failure", exc.message)
                return
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(RETRY_DELAY)
        await send(response, "change", f"{spec.kind.plural} RELIST")


async def watch_stream(dash: Dashboard, request: web.Request) -> web.StreamResponse:
    specs = list(dict.fromkeys(parse_watch(text) for text in request.query.getall("w", [])))
    if not specs:
        raise web.HTTPBadRequest(text="no watch given (w=kind=...)")
    user = dash.user(request)
    response = await open_stream(request)
    await send(response, "ready", "")
    watchers = [asyncio.create_task(_follow(user, spec, response)) for spec in specs]
    pinger = asyncio.create_task(_keepalive(response))
    try:
        # Open until the browser goes (a write fails): refused watches end, the others go on.
        await asyncio.wait([pinger, *watchers], return_when=asyncio.FIRST_EXCEPTION)
        if not pinger.done():
            await pinger
    except (ConnectionError, RuntimeError):
        pass
    finally:
        for task in [pinger, *watchers]:
            task.cancel()
        await asyncio.gather(pinger, *watchers, return_exceptions=True)
    return response


async def _copy_log(user: UserAPI, path: str, params: dict[str, str], response: web.StreamResponse) -> None:
    try:
        async for line in user.lines(path, params):
            await send(response, "line", line.decode(errors="replace").rstrip("\r"))
        await send(response, "end", "")
    except StatusError as exc:
        await send(response, "failure", exc.message)


async def log_stream(dash: Dashboard, request: web.Request) -> web.StreamResponse:
    """The pod's log, followed, as one ``line`` event per line (``end`` when the container stops)."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    params = {"follow": "true", "tailLines": request.query.get("tailLines", "500")}
    if request.query.get("container"):
        params["container"] = request.query["container"]
    user = dash.user(request)
    response = await open_stream(request)
    await send(response, "ready", "")
    copier = asyncio.create_task(
        _copy_log(user, KINDS["pods"].path(namespace, name, "log"), params, response)
    )
    pinger = asyncio.create_task(_keepalive(response))
    try:
        # A quiet log would otherwise hold the kubelet's follow stream open after the browser left.
        await asyncio.wait([copier, pinger], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (copier, pinger):
            task.cancel()
        await asyncio.gather(copier, pinger, return_exceptions=True)
    return response
