"""ReplicaSet and ReplicationController controllers against a real server and hollow nodes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import (
    EVENTS,
    NAMESPACES,
    NODES,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    RESOURCEQUOTAS,
)
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str, str]]:
    """An admin client, a fresh namespace and one hollow node for it."""
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    namespace, node = f"rs-{suffix}", f"rs-node-{suffix}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with hollow_nodes(bare_server, [node], subnet=110):
            yield client, namespace, node
    finally:
        for cleanup in (
            client.delete(NAMESPACES, name=namespace),
            client.delete(NODES, name=node),
        ):
            try:
                await cleanup
            except StatusError:
                pass
        await client.close()


def template(app: str, node: str) -> Obj:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox:1.36"}]},
    }


async def live_pods(client: RESTClient, namespace: str, selector: str) -> list[Obj]:
    items = (await client.list(PODS, namespace=namespace, label_selector=selector))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def test_a_replicaset_scales_adopts_and_releases(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    async with controllers_running(bare_server, ["replicaset-controller"]):
        rs = await client.create(
            REPLICASETS,
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": template("web", node),
                },
            },
            namespace=namespace,
        )

        async def status_is(replicas: int) -> Obj | None:
            current = await client.get(REPLICASETS, name="web", namespace=namespace)
            status = current.get("status") or {}
            ok = (
                status.get("replicas") == replicas
                and status.get("readyReplicas", 0) == replicas
                and status.get("availableReplicas", 0) == replicas
                and status.get("fullyLabeledReplicas", 0) == replicas
                and status.get("observedGeneration") == current["metadata"]["generation"]
            )
            return current if ok else None

        await eventually(lambda: status_is(3), timeout=30)
        pods = await live_pods(client, namespace, "app=web")
        assert len(pods) == 3
        assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"] for p in pods)

        # An orphan that matches is adopted, and the set, now one too many, deletes one.
        await client.create(
            PODS,
            {"metadata": {"name": "orphan", "labels": {"app": "web"}}, "spec": template("web", node)["spec"]},
            namespace=namespace,
        )

        async def orphan_adopted() -> bool:
            try:
                pod = await client.get(PODS, name="orphan", namespace=namespace)
            except StatusError:
                return True  # adopted and chosen for deletion (it is the newest)
            refs = pod["metadata"].get("ownerReferences") or []
            return any(r["uid"] == rs["metadata"]["uid"] and r.get("controller") for r in refs)

        await eventually(orphan_adopted, timeout=30)
        await eventually(lambda: status_is(3), timeout=30)
        assert len(await live_pods(client, namespace, "app=web")) == 3

        # A pod relabelled out of the selector is released and replaced.
        victim = (await live_pods(client, namespace, "app=web"))[0]
        name = victim["metadata"]["name"]
        await client.patch(PODS, {"metadata": {"labels": {"app": "other"}}}, name=name, namespace=namespace)

        async def released() -> bool:
            pod = await client.get(PODS, name=name, namespace=namespace)
            return not pod["metadata"].get("ownerReferences")

        await eventually(released, timeout=30)
        await eventually(lambda: status_is(3), timeout=30)

        # Scale down, then up: events name what was done.
        await client.patch(REPLICASETS, {"spec": {"replicas": 1}}, name="web", namespace=namespace)
        await eventually(lambda: status_is(1), timeout=30)
        assert len(await live_pods(client, namespace, "app=web")) == 1

        async def events_recorded() -> bool:
            events = (await client.list(EVENTS, namespace=namespace))["items"]
            reasons = {e["reason"] for e in events if e["involvedObject"].get("name") == "web"}
            return {"SuccessfulCreate", "SuccessfulDelete"} <= reasons

        await eventually(events_recorded, timeout=30)


async def test_a_replicaset_reports_failed_creates(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    # A quota of one pod (admission counts usage itself): the second create is refused.
    await client.create(
        RESOURCEQUOTAS,
        {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "1"}}},
        namespace=namespace,
    )
    async with controllers_running(bare_server, ["replicaset-controller"]):
        await client.create(
            REPLICASETS,
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": "capped"},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "capped"}},
                    "template": template("capped", node),
                },
            },
            namespace=namespace,
        )

        async def failure_reported() -> Obj | None:
            current = await client.get(REPLICASETS, name="capped", namespace=namespace)
            for cond in (current.get("status") or {}).get("conditions") or []:
                if cond["type"] == "ReplicaFailure":
                    return cond
            return None

        cond = await eventually(failure_reported, timeout=30)
        assert (cond["status"], cond["reason"]) == ("True", "FailedCreate")
        assert "exceeded quota" in cond["message"]

        async def warning_event() -> bool:
            events = (await client.list(EVENTS, namespace=namespace))["items"]
            return any(e["reason"] == "FailedCreate" and e["type"] == "Warning" for e in events)

        await eventually(warning_event, timeout=30)


async def test_a_replication_controller_scales(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    async with controllers_running(bare_server, ["replicationcontroller-controller"]):
        await client.create(
            REPLICATIONCONTROLLERS,
            {
                "apiVersion": "v1",
                "kind": "ReplicationController",
                "metadata": {"name": "legacy"},
                "spec": {"replicas": 2, "selector": {"app": "legacy"}, "template": template("legacy", node)},
            },
            namespace=namespace,
        )

        async def ready(replicas: int) -> bool:
            current = await client.get(REPLICATIONCONTROLLERS, name="legacy", namespace=namespace)
            status = current.get("status") or {}
            pods = await live_pods(client, namespace, "app=legacy")
            return len(pods) == replicas and status.get("readyReplicas", 0) == replicas == status["replicas"]

        await eventually(lambda: ready(2), timeout=30)
        pods = await live_pods(client, namespace, "app=legacy")
        assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == {"ReplicationController"}
        await client.patch(
            REPLICATIONCONTROLLERS, {"spec": {"replicas": 4}}, name="legacy", namespace=namespace
        )
        await eventually(lambda: ready(4), timeout=30)
        await client.patch(
            REPLICATIONCONTROLLERS, {"spec": {"replicas": 0}}, name="legacy", namespace=namespace
        )
        await eventually(lambda: ready(0), timeout=30)
