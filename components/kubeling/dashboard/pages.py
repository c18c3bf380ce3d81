"""The pages: overview, lists (the apiserver's own Tables) and detail pages, all read as the user.

A read the user may not make does not fail the page: that block shows the
apiserver's Status message instead (RBAC is the apiserver's, shown as it
says it). Blocks marked ``data-live`` carry the watch that refreshes them.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import yaml
from aiohttp import web

from kubeling.api.errors import StatusError
from kubeling.dashboard import plots, render
from kubeling.dashboard.history import History
from kubeling.dashboard.kinds import KINDS, WORKLOADS, Kind
from kubeling.dashboard.userapi import UserAPI

if TYPE_CHECKING:
    from kubeling.dashboard.server import Dashboard

CLUSTER = "-"  # the namespace part of a cluster-scoped object's URL


def kind_of(request: web.Request) -> Kind:
    kind = KINDS.get(request.match_info["kind"])
    if kind is None:
        raise web.HTTPNotFound(text=f"no such kind {request.match_info['kind']!r}")
    return kind


def live_url(kind: str, namespace: str = "", **selectors: str) -> str:
    """One watch of a page's /live stream, as a query string (``kind=pods&namespace=..``)."""
    query = {"kind": kind, "namespace": namespace, **selectors}
    return urlencode({k: v for k, v in query.items() if v})


async def attempt(call: Any) -> tuple[Any, str]:
    """(result, "") or (None, the apiserver's message): one block's read."""
    try:
        return await call, ""
    except StatusError as exc:
        return None, exc.message


def plot_pair(history: History, key: tuple[str, str, str], window: float) -> dict[str, str]:
    now = time.time()
    samples = history.points(key)
    name = key[2]
    return {
        "cpu": plots.line_chart(
            f"CPU of {name}", [plots.Series("cpu", [(s.at, s.cpu) for s in samples])],
            fmt=plots.format_cores, span=window, now=now,
        ),
        "memory": plots.line_chart(
            f"Memory of {name}", [plots.Series("memory", [(s.at, s.memory) for s in samples])],
            fmt=plots.format_bytes, span=window, now=now,
        ),
    }  # fmt: skip


def combined_plots(
    history: History, kind: str, names: list[tuple[str, str]], window: float
) -> dict[str, str]:
    now = time.time()
    cpu, memory = [], []
    for namespace, name in names:
        samples = history.points((kind, namespace, name))
        cpu.append(plots.Series(name, [(s.at, s.cpu) for s in samples]))
        memory.append(plots.Series(name, [(s.at, s.memory) for s in samples]))
    return {
        "cpu": plots.line_chart(f"CPU of {kind}", cpu, fmt=plots.format_cores, span=window, now=now),
        "memory": plots.line_chart(f"Memory of {kind}", memory, fmt=plots.format_bytes, span=window, now=now),
    }


# -- overview --------------------------------------------------------------------------------


async def overview(dash: Dashboard, request: web.Request) -> web.Response:
    user = dash.user(request)
    namespace = request.query.get("namespace", "")  # workloads of one namespace (all by default)
    nodes_call = attempt(user.get(KINDS["nodes"].path()))
    namespaces_call = attempt(user.get(KINDS["namespaces"].path()))
    usage_call = attempt(user.get("/apis/metrics.k8s.io/v1beta1/nodes"))
    workload_calls = [attempt(user.get(KINDS[k].path(namespace))) for k in WORKLOADS]
    (nodes, nodes_error), (namespaces, ns_error), (usage, _), *workloads = await asyncio.gather(
        nodes_call, namespaces_call, usage_call, *workload_calls
    )
    usage_by_node = {
        (item.get("metadata") or {}).get("name"): item.get("usage") or {}
        for item in (usage or {}).get("items") or []
    }
    node_rows = []
    for node in (nodes or {}).get("items") or []:
        row = render.node_summary(node)
        used = usage_by_node.get(row["name"], {})
        row["cpu_used"], row["memory_used"] = str(used.get("cpu", "")), str(used.get("memory", ""))
        node_rows.append(row)
    counts = []
    for kind, (listing, error) in zip(WORKLOADS, workloads, strict=True):
        items = (listing or {}).get("items") or []
        counts.append({"kind": kind, "title": KINDS[kind].title, "total": len(items), "error": error,
                       **render.health_counts(kind, items)})  # fmt: skip
    node_plots = None
    if await user.can_i("list", "nodes", group="metrics.k8s.io"):
        names = [("", row["name"]) for row in node_rows]
        node_plots = combined_plots(dash.history, "nodes", names, dash.config.metric_window)
    return dash.render(
        request,
        "overview.html.j2",
        nodes=node_rows,
        nodes_error=nodes_error,
        namespaces=[(n.get("metadata") or {}).get("name", "") for n in (namespaces or {}).get("items") or []],
        namespaces_error=ns_error,
        counts=counts,
        node_plots=node_plots,
        namespace=namespace,
        live_nodes=live_url("nodes"),
        live_pods=live_url("pods", namespace),
    )


# -- lists -------------------------------------------------------------------------------------


async def listing(dash: Dashboard, request: web.Request) -> web.Response:
    kind = kind_of(request)
    namespace = request.query.get("namespace", "") if kind.namespaced else ""
    user = dash.user(request)
    table, error = await attempt(user.table(kind.path(namespace)))
    columns, rows = table_rows(table or {}, all_namespaces=kind.namespaced and not namespace)
    namespaces = []
    if kind.namespaced:
        found, _ = await attempt(user.get(KINDS["namespaces"].path()))
        namespaces = [(n.get("metadata") or {}).get("name", "") for n in (found or {}).get("items") or []]
    return dash.render(
        request,
        "list.html.j2",
        status=200,
        kind=kind,
        namespace=namespace,
        namespaces=namespaces,
        columns=columns,
        rows=rows,
        list_error=error,
        live=live_url(kind.plural, namespace),
    )


def table_rows(table: dict[str, Any], *, all_namespaces: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """A meta.k8s.io Table's priority-0 columns, and its rows with their object's namespace and name."""
    definitions = table.get("columnDefinitions") or []
    shown = [i for i, column in enumerate(definitions) if not column.get("priority")]
    columns = [definitions[i].get("name", "") for i in shown]
    rows = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        meta = (row.get("object") or {}).get("metadata") or {}
        rows.append(
            {
                "namespace": meta.get("namespace", ""),
                "name": meta.get("name", ""),
                "cells": [cells[i] if i < len(cells) else "" for i in shown],
            }
        )
    if all_namespaces:
        columns = ["Namespace", *columns]
        for row in rows:
            row["cells"] = [row["namespace"], *row["cells"]]
    return columns, rows


# -- detail ------------------------------------------------------------------------------------


async def detail(
    dash: Dashboard, request: web.Request, *, error: str = "", status: int = 200
) -> web.Response:
    kind = kind_of(request)
    namespace = request.match_info["namespace"]
    namespace = "" if namespace == CLUSTER else namespace
    name = request.match_info["name"]
    user = dash.user(request)
    obj, read_error = await attempt(user.get(kind.path(namespace, name)))
    if obj is None:
        if not error:  # an action's refusal keeps its own status; else the read's
            status = 404 if "not found" in read_error else 403
        return dash.render(
            request, "detail.html.j2", status=status,
            kind=kind, namespace=namespace, name=name, obj=None, error=error or read_error, extra={},
        )  # fmt: skip
    extra = await _extra(dash, user, kind, obj, namespace, name)
    return dash.render(
        request,
        "detail.html.j2",
        status=status,
        kind=kind,
        namespace=namespace,
        name=name,
        obj=obj,
        error=error,
        extra=extra,
        manifest=manifest(kind, obj),
        age=render.age((obj.get("metadata") or {}).get("creationTimestamp"), _now()),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def manifest(kind: Kind, obj: dict[str, Any]) -> str:
    """The object as YAML, without managedFields and without ConfigMap/Secret values (shown on request)."""
    shown = dict(obj)
    shown["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    if kind.plural in ("secrets", "configmaps"):
        for field in ("data", "binaryData", "stringData"):
            if field in shown:
                shown[field] = {key: "(hidden)" for key in shown[field] or {}}
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)


async def _extra(
    dash: Dashboard, user: UserAPI, kind: Kind, obj: dict[str, Any], namespace: str, name: str
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    events_selector = f"involvedObject.name={name}"
    extra["live_events"] = live_url("events", namespace, fieldSelector=events_selector)
    events, extra["events_error"] = await attempt(
        user.get(KINDS["events"].path(namespace), fieldSelector=events_selector)
    )
    extra["events"] = sorted(
        (events or {}).get("items") or [], key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""
    )
    selector = ""
    if kind.plural in ("deployments", "replicasets", "daemonsets", "statefulsets", "jobs"):
        selector = render.label_selector((obj.get("spec") or {}).get("selector"))
    elif kind.plural == "services":
        selector = ",".join(
            f"{k}={v}" for k, v in sorted(((obj.get("spec") or {}).get("selector") or {}).items())
        )
    if selector:
        pods, extra["pods_error"] = await attempt(
            user.table(KINDS["pods"].path(namespace), labelSelector=selector)
        )
        extra["pod_columns"], extra["pod_rows"] = table_rows(pods or {}, all_namespaces=False)
        extra["live_pods"] = live_url("pods", namespace, labelSelector=selector)
    if kind.plural == "services":
        endpoints, extra["endpoints_error"] = await attempt(
            user.get(KINDS["endpoints"].path(namespace, name))
        )
        extra["endpoints"] = endpoints
    if kind.plural == "pods":
        extra["containers"] = pod_containers(obj)
        if await user.can_i("get", "pods", group="metrics.k8s.io", namespace=namespace):
            extra["plots"] = plot_pair(dash.history, ("pods", namespace, name), dash.config.metric_window)
    if kind.plural == "nodes":
        extra["node"] = render.node_summary(obj)
        if await user.can_i("get", "nodes", group="metrics.k8s.io"):
            extra["plots"] = plot_pair(dash.history, ("nodes", "", name), dash.config.metric_window)
    if kind.plural in ("secrets", "configmaps"):
        extra["data_keys"] = sorted({*(obj.get("data") or {}), *(obj.get("binaryData") or {})})
    return extra


def pod_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    rows = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        status = statuses.get(container.get("name"), {})
        state, detail = render.container_state(status) if status else ("Waiting", "not created yet")
        rows.append(
            {
                "name": container.get("name", ""),
                "image": container.get("image", ""),
                "state": state,
                "detail": detail,
                "ready": bool(status.get("ready")),
                "restarts": int(status.get("restartCount") or 0),
            }
        )
    return rows


async def reveal(dash: Dashboard, request: web.Request) -> web.Response:
    """One ConfigMap or Secret value, read as the user when they click to see it."""
    kind = kind_of(request)
    if kind.plural not in ("secrets", "configmaps"):
        raise web.HTTPNotFound()
    key = request.query.get("key", "")
    try:
        obj = await dash.user(request).get(
            kind.path(request.match_info["namespace"], request.match_info["name"])
        )
    except StatusError as exc:
        return web.Response(text=exc.message, status=exc.code)
    data = obj.get("data") or {}
    if key not in data:
        return web.Response(text=f"no key {key!r}", status=404)
    value = render.decode_secret_value(data[key]) if kind.plural == "secrets" else str(data[key])
    return web.Response(text=value, headers={"Cache-Control": "no-store"})
