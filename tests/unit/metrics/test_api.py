"""NodeMetrics/PodMetrics shapes, selectors and 404s of the metrics.k8s.io handlers (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kubeling.api.selectors import parse_field_selector, parse_label_selector
from kubeling.client.store import Store
from kubeling.metrics.api import MetricsAPI, selected, wants_aggregated
from kubeling.metrics.samples import MetricsBatch, PodRef, Point
from kubeling.metrics.storage import MetricsStorage

NOW = 1_700_000_100.0


def obj(name: str, namespace: str = "", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("labels", "fields", "names"),
    [
        ("", "", ["a/web", "b/db", "b/web"]),
        ("app=web", "", ["a/web", "b/web"]),
        ("app!=web", "", ["b/db"]),
        ("", "metadata.name=web", ["a/web", "b/web"]),
        ("", "metadata.namespace=b,metadata.name!=web", ["b/db"]),
        ("", "spec.nodeName=n1", []),  # not a field metrics objects have: nothing matches
    ],
    ids=["all", "label", "label-not", "name", "namespace-and-not-name", "other-field"],
)
def test_selected(labels: str, fields: str, names: list[str]) -> None:
    objects = [obj("web", "b", app="web"), obj("db", "b", app="db"), obj("web", "a", app="web")]
    got = selected(objects, parse_label_selector(labels), parse_field_selector(fields))
    assert [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in got] == names


def test_wants_aggregated() -> None:
    assert wants_aggregated(
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    )
    assert not wants_aggregated("application/json, */*")


@pytest.fixture
async def client() -> Any:
    storage = MetricsStorage(resolution=15.0)
    for t, cpu in ((100.0, 0), (115.0, 3_000_000_000)):
        storage.store(
            MetricsBatch(
                nodes={"n1": Point(NOW - 115 + t, cpu, 2 * 1024**3)},
                pods={
                    PodRef("default", "web"): {
                        "c": Point(NOW - 115 + t, cpu // 2, 50 * 1024**2, 1.0),
                        "b": Point(NOW - 115 + t, cpu // 4, 1024, 1.0),
                    }
                },
            )
        )
    nodes, pods = Store(), Store()
    nodes.upsert(obj("n1", role="worker"))
    nodes.upsert(obj("n2"))  # never scraped
    pods.upsert(obj("web", "default", app="web"))
    pods.upsert(obj("fresh", "default", app="web"))  # no points yet
    app = web.Application()
    app.router.add_routes(MetricsAPI(storage, nodes, pods, clock=lambda: NOW).routes())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_node_metrics(client: TestClient) -> None:
    response = await client.get("/apis/metrics.k8s.io/v1beta1/nodes/n1")
    assert response.status == 200
    assert await response.json() == {
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "n1", "creationTimestamp": "2023-11-14T22:15:00Z", "labels": {"role": "worker"}},
        "timestamp": "2023-11-14T22:15:00Z",
        "window": "15s",
        "usage": {"cpu": "200m", "memory": "2Gi"},
    }
    listed = await (await client.get("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=role%3Dworker")).json()
    assert listed["kind"] == "NodeMetricsList" and [i["metadata"]["name"] for i in listed["items"]] == ["n1"]


async def test_pod_metrics_per_container(client: TestClient) -> None:
    body = await (await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web")).json()
    assert body["kind"] == "PodMetrics"
    assert body["metadata"]["namespace"] == "default" and body["metadata"]["labels"] == {"app": "web"}
    assert body["containers"] == [
        {"name": "b", "usage": {"cpu": "50m", "memory": "1Ki"}},
        {"name": "c", "usage": {"cpu": "100m", "memory": "50Mi"}},
    ]
    for path in ("/pods", "/namespaces/default/pods", "/pods?fieldSelector=metadata.name%3Dweb"):
        listed = await (await client.get("/apis/metrics.k8s.io/v1beta1" + path)).json()
        assert listed["kind"] == "PodMetricsList" and [i["metadata"]["name"] for i in listed["items"]] == [
            "web"
        ]
    other = await (await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/other/pods")).json()
    assert other["items"] == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/nodes/n2", 'nodes.metrics.k8s.io "n2" not found'),
        ("/nodes/nope", 'nodes.metrics.k8s.io "nope" not found'),
        ("/namespaces/default/pods/fresh", 'pods.metrics.k8s.io "fresh" not found'),
    ],
)
async def test_missing_is_404_status(client: TestClient, path: str, message: str) -> None:
    response = await client.get("/apis/metrics.k8s.io/v1beta1" + path)
    body = await response.json()
    assert response.status == 404
    assert (body["kind"], body["reason"], body["message"]) == ("Status", "NotFound", message)


async def test_bad_selector_is_400(client: TestClient) -> None:
    response = await client.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%20b")
    assert response.status == 400 and (await response.json())["reason"] == "BadRequest"


async def test_discovery(client: TestClient) -> None:
    resources = await (await client.get("/apis/metrics.k8s.io/v1beta1")).json()
    assert resources["groupVersion"] == "metrics.k8s.io/v1beta1"
    assert {(r["name"], r["kind"], r["namespaced"], tuple(r["verbs"])) for r in resources["resources"]} == {
        ("nodes", "NodeMetrics", False, ("get", "list")),
        ("pods", "PodMetrics", True, ("get", "list")),
    }
    groups = await (await client.get("/apis")).json()
    assert groups["groups"][0]["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
    group = await (await client.get("/apis/metrics.k8s.io")).json()
    assert group["kind"] == "APIGroup" and group["name"] == "metrics.k8s.io"
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    aggregated = await client.get("/apis", headers={"Accept": accept})
    assert aggregated.headers["Content-Type"] == accept
    assert (await aggregated.json())["items"][0]["versions"][0]["resources"][1]["scope"] == "Namespaced"
