"""The ``metrics.k8s.io/v1beta1`` REST API: discovery, NodeMetrics and PodMetrics.

Which objects exist comes from the node and pod informers (as upstream's
listers): a list selects them by ``labelSelector`` and ``fieldSelector``
(``metadata.name``, ``metadata.namespace``), then reports those the storage
has usage for; one without usage is left out of a list and is a 404 on a get.
A pod's ``timestamp``/``window`` are those of its earliest container point.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web

from kubeling.api import errors
from kubeling.api.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from kubeling.client.store import Store
from kubeling.metrics.quantity import format_cpu, format_duration, format_memory, format_time
from kubeling.metrics.samples import PodRef
from kubeling.metrics.storage import MetricsStorage, Usage

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP_VERSION}"
_RESOURCES = (("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True))
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

Obj = dict[str, Any]


def json_response(body: Obj, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers={"Content-Type": content_type})


def status_response(error: errors.StatusError) -> web.Response:
    return json_response(error.status(), error.code)


# -- discovery ---------------------------------------------------------------------------------


def _group() -> Obj:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def api_group_list() -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]}


def api_group() -> Obj:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group()}


def api_resource_list() -> Obj:
    resources = [
        {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]}
        for name, kind, namespaced in _RESOURCES
    ]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": resources,
    }


def aggregated_discovery() -> Obj:
    """apidiscovery.k8s.io/v2 for /apis, which the aggregator asks of an extension server first."""
    resources = [
        {
            "resource": name,
            "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
            "scope": "Namespaced" if namespaced else "Cluster",
            "singularResource": name.removesuffix("s"),
            "verbs": ["get", "list"],
        }
        for name, kind, namespaced in _RESOURCES
    ]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [
            {
                "metadata": {"name": GROUP},
                "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}],
            }
        ],
    }


def wants_aggregated(accept: str) -> bool:
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False


# -- objects -----------------------------------------------------------------------------------


def _usage(usage: Usage) -> Obj:
    return {"cpu": format_cpu(usage.nanocores), "memory": format_memory(usage.memory)}


def _metadata(obj: Obj, now: float) -> Obj:
    meta = obj.get("metadata") or {}
    out: Obj = {"name": meta.get("name", "")}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out["creationTimestamp"] = format_time(now)
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    return out


def node_metrics(node: Obj, usage: Usage, now: float) -> Obj:
    return {
        "kind": "NodeMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": _metadata(node, now),
        "timestamp": format_time(usage.timestamp),
        "window": format_duration(usage.window),
        "usage": _usage(usage),
    }


def pod_metrics(pod: Obj, usages: dict[str, Usage], now: float) -> Obj:
    earliest = min(usages.values(), key=lambda u: u.timestamp)
    return {
        "kind": "PodMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": _metadata(pod, now),
        "timestamp": format_time(earliest.timestamp),
        "window": format_duration(earliest.window),
        "containers": [{"name": name, "usage": _usage(usages[name])} for name in sorted(usages)],
    }


def metrics_list(kind: str, items: list[Obj]) -> Obj:
    return {"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


# -- selection ---------------------------------------------------------------------------------


def _field(obj: Obj, name: str) -> str:
    meta = obj.get("metadata") or {}
    return {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}.get(
        name, ""
    )


def selected(objects: Iterable[Obj], labels: LabelSelector, fields: FieldSelector) -> list[Obj]:
    """Objects matching both selectors, by name (fields other than metadata.* read as empty, as upstream)."""
    out = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if not labels.matches(meta.get("labels") or {}):
            continue
        if all(r.matches(_field(obj, r.field)) for r in fields.requirements):
            out.append(obj)
    return sorted(out, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def _selectors(request: web.Request) -> tuple[LabelSelector, FieldSelector]:
    return (
        parse_label_selector(request.query.get("labelSelector", "")),
        parse_field_selector(request.query.get("fieldSelector", "")),
    )


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _answering_status(handler: Handler) -> Handler:
    """A StatusError (a bad selector) becomes its Status response."""

    async def answer(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except errors.StatusError as exc:
            return status_response(exc)

    return answer


# -- handlers ----------------------------------------------------------------------------------


class MetricsAPI:
    def __init__(
        self, storage: MetricsStorage, nodes: Store, pods: Store, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.nodes = nodes
        self.pods = pods
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        handlers: dict[str, Handler] = {
            "/apis": self._apis,
            f"/apis/{GROUP}": self._group,
            PREFIX: self._resources,
            f"{PREFIX}/nodes": self._list_nodes,
            f"{PREFIX}/nodes/{{name}}": self._get_node,
            f"{PREFIX}/pods": self._list_pods,
            f"{PREFIX}/namespaces/{{namespace}}/pods": self._list_pods,
            f"{PREFIX}/namespaces/{{namespace}}/pods/{{name}}": self._get_pod,
        }
        return [web.get(path, _answering_status(handler)) for path, handler in handlers.items()]

    async def _apis(self, request: web.Request) -> web.Response:
        if wants_aggregated(request.headers.get("Accept", "")):
            return json_response(aggregated_discovery(), content_type=AGGREGATED_DISCOVERY)
        return json_response(api_group_list())

    async def _group(self, request: web.Request) -> web.Response:
        return json_response(api_group())

    async def _resources(self, request: web.Request) -> web.Response:
        return json_response(api_resource_list())

    def _node(self, node: Obj, now: float) -> Obj | None:
        usage = self.storage.node_usage(node["metadata"]["name"])
        return node_metrics(node, usage, now) if usage is not None else None

    def _pod(self, pod: Obj, now: float) -> Obj | None:
        meta = pod["metadata"]
        usages = self.storage.pod_usage(PodRef(meta.get("namespace", ""), meta["name"]))
        return pod_metrics(pod, usages, now) if usages else None

    async def _list_nodes(self, request: web.Request) -> web.Response:
        labels, fields = _selectors(request)
        now = self.clock()
        items = [m for n in selected(self.nodes.list(), labels, fields) if (m := self._node(n, now))]
        return json_response(metrics_list("NodeMetricsList", items))

    async def _get_node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        node = self.nodes.get_by(name=name)
        found = self._node(node, self.clock()) if node is not None else None
        if found is None:
            return status_response(errors.not_found(GROUP, "nodes", name))
        return json_response(found)

    async def _list_pods(self, request: web.Request) -> web.Response:
        labels, fields = _selectors(request)
        namespace = request.match_info.get("namespace")
        candidates = self.pods.list()
        if namespace is not None:
            candidates = [p for p in candidates if p["metadata"].get("namespace") == namespace]
        now = self.clock()
        items = [m for p in selected(candidates, labels, fields) if (m := self._pod(p, now))]
        return json_response(metrics_list("PodMetricsList", items))

    async def _get_pod(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        pod = self.pods.get_by(name=name, namespace=namespace)
        found = self._pod(pod, self.clock()) if pod is not None else None
        if found is None:
            return status_response(errors.not_found(GROUP, "pods", name))
        return json_response(found)
