"""The HTTP API of ``logging.kubeling.io/v1alpha1``, as the log store serves it.

- ``GET /apis``, ``/apis/logging.kubeling.io``, ``/apis/logging.kubeling.io/v1alpha1``:
  discovery (the aggregator's availability check reads the last);
- ``POST /apis/logging.kubeling.io/v1alpha1/logs``: a ``LogBatch`` (``items``
  of lines with ``id``, ``time``, ``log``, ``stream``, ``namespace``, ``pod``,
  ``container``, ``containerID``, ``node``, ``podUID``, ``labels``); answers
  ``{"added": n, "duplicates": m}``; ids already stored are ignored;
- ``GET /apis/logging.kubeling.io/v1alpha1[/namespaces/NS]/logs``: a
  ``LogLineList`` ordered by time; parameters ``pod``, ``container``,
  ``labelSelector``, ``sinceSeconds`` or ``sinceTime``, ``untilTime``
  (RFC 3339), ``contains`` (plain text), ``limit`` (default 1000, at most
  10000) — named as ``kubectl logs`` and list calls name them.

Bad parameters are 400 ``metav1.Status`` answers, never tracebacks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from kubeling.api import errors
from kubeling.api.selectors import parse_label_selector
from kubeling.logging.records import parse_time
from kubeling.logging.shipper import BATCH_KIND, GROUP, VERSION
from kubeling.logging.store import InvalidBatch, LogStore, Query

Obj = dict[str, Any]
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP_VERSION}"
MAX_BODY = 8 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Obj, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def status_response(error: errors.StatusError) -> web.Response:
    return json_response(error.status(), error.code)


def _group() -> Obj:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def api_resource_list() -> Obj:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {
                "name": "logs",
                "singularName": "",
                "namespaced": True,
                "kind": "LogLine",
                "verbs": ["create", "list"],
            }
        ],
    }


def query_from(params: Any, namespace: str, now_ns: int) -> Query:
    """Request parameters → Query; 400 BadRequest naming the parameter that is wrong."""
    query = Query(namespace=namespace, pod=params.get("pod", ""), container=params.get("container", ""))
    query.contains = params.get("contains", "")
    if params.get("labelSelector"):
        query.selector = parse_label_selector(params["labelSelector"])  # a 400 with upstream's words
    try:
        if params.get("sinceSeconds"):
            seconds = int(params["sinceSeconds"])
            if seconds < 1:
                raise ValueError("must be at least 1")
            query.since_ns = now_ns - seconds * 1_000_000_000
        if params.get("sinceTime"):
            if query.since_ns is not None:
                raise errors.bad_request("at most one of sinceTime or sinceSeconds may be specified")
            query.since_ns = parse_time(params["sinceTime"])
        if params.get("untilTime"):
            query.until_ns = parse_time(params["untilTime"])
        if params.get("limit"):
            query.limit = int(params["limit"])
            if query.limit < 1:
                raise ValueError("limit must be at least 1")
    except ValueError as exc:
        raise errors.bad_request(f"invalid query parameter: {exc}") from None
    return query


class LogsAPI:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self._writes = asyncio.Lock()
        self.batches = 0

    def routes(self) -> list[web.RouteDef]:
        gets: dict[str, Handler] = {
            "/apis": self._apis,
            f"/apis/{GROUP}": self._group,
            PREFIX: self._resources,
            f"{PREFIX}/logs": self._query,
            f"{PREFIX}/namespaces/{{namespace}}/logs": self._query,
        }
        routes = [web.get(path, _answering_status(handler)) for path, handler in gets.items()]
        routes.append(web.post(f"{PREFIX}/logs", _answering_status(self._add)))
        return routes

    async def _apis(self, request: web.Request) -> web.Response:
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]})

    async def _group(self, request: web.Request) -> web.Response:
        return json_response({"kind": "APIGroup", "apiVersion": "v1", **_group()})

    async def _resources(self, request: web.Request) -> web.Response:
        return json_response(api_resource_list())

    async def _add(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise errors.too_large()
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise errors.bad_request(f"the batch is not JSON: {exc}") from None
        if (
            not isinstance(body, dict)
            or body.get("kind") != BATCH_KIND
            or not isinstance(body.get("items"), list)
        ):
            raise errors.bad_request(f"want a {BATCH_KIND} with a list of items")
        try:
            async with self._writes:
                added, duplicates = await asyncio.to_thread(self.store.add, body["items"])
        except InvalidBatch as exc:
            raise errors.bad_request(str(exc)) from None
        self.batches += 1
        return json_response(
            {"apiVersion": GROUP_VERSION, "kind": "LogBatchResult", "added": added, "duplicates": duplicates},
            201,
        )

    async def _query(self, request: web.Request) -> web.Response:
        query = query_from(request.query, request.match_info.get("namespace", ""), time.time_ns())
        items = await asyncio.to_thread(self.store.query, query)
        return json_response(
            {"apiVersion": GROUP_VERSION, "kind": "LogLineList", "metadata": {}, "items": items}
        )


def _answering_status(handler: Handler) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.StatusError as exc:
            return status_response(exc)

    return answer
