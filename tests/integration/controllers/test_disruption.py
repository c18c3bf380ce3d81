"""The disruption controller against a real server: PDB status from pods and their controllers'
scale, and the eviction API refusing (429) or allowing evictions by that status."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.controllers.ownership import new_controller_ref
from kubeling.controllers.resources import (
    DEPLOYMENTS,
    EVENTS,
    NAMESPACES,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
)
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.integration.controllers.test_endpoints import set_ready

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
TEMPLATE_SPEC = {"containers": [{"name": "c", "image": "nginx"}]}


def workload(kind: str, name: str, app: str, replicas: int, owner: Obj | None = None) -> Obj:
    meta: Obj = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [new_controller_ref(owner)]
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": TEMPLATE_SPEC},
        },
    }


async def owned_pod(client: RESTClient, namespace: str, name: str, owner: Obj, app: str, ip: str) -> None:
    body = {
        "metadata": {"name": name, "labels": {"app": app}, "ownerReferences": [new_controller_ref(owner)]},
        "spec": TEMPLATE_SPEC,
    }
    await client.create(PODS, body, namespace=namespace)
    await set_ready(client, namespace, name, True, ip)


async def evict(client: RESTClient, namespace: str, name: str) -> int:
    """POST the Eviction once (a client that retries 429s would wait out each refusal)."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
    try:
        answer = await client.create(PODS, body, name=name, namespace=namespace, subresource="eviction")
    except StatusError as exc:
        return exc.code
    return int(answer.get("code") or 201)


def budget(name: str, app: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}}, **spec},
    }


async def test_budgets_guard_evictions(bare_server: Any) -> None:
    client = admin_client(bare_server)
    evictor = RESTClient(load_config(str(bare_server.kubeconfig)), component="test", qps=0, max_retries=0)
    namespace = f"pdb-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        replicaset = await client.create(
            REPLICASETS, workload("ReplicaSet", "db", "db", 3), namespace=namespace
        )
        for i, name in enumerate(["db-a", "db-b", "db-c"]):
            await owned_pod(client, namespace, name, replicaset, "db", f"10.3.0.{i + 1}")
        await client.create(PODDISRUPTIONBUDGETS, budget("db", "db", maxUnavailable=1), namespace=namespace)
        # Before the controller has looked at the budget, the eviction API refuses.
        assert await evict(evictor, namespace, "db-a") == 429

        deployment = await client.create(
            DEPLOYMENTS, workload("Deployment", "web", "web", 4), namespace=namespace
        )
        web_rs = await client.create(
            REPLICASETS, workload("ReplicaSet", "web-1", "web", 4, owner=deployment), namespace=namespace
        )
        for i, name in enumerate(["web-a", "web-b"]):
            await owned_pod(client, namespace, name, web_rs, "web", f"10.3.1.{i + 1}")
        await client.create(
            PODDISRUPTIONBUDGETS, budget("web", "web", minAvailable="50%"), namespace=namespace
        )

        async with controllers_running(bare_server, ["disruption-controller"]):

            async def status_of(name: str, allowed: int, healthy: int) -> Obj | None:
                pdb = await client.get(PODDISRUPTIONBUDGETS, name=name, namespace=namespace)
                status = pdb.get("status") or {}
                seen = (status.get("disruptionsAllowed"), status.get("currentHealthy"))
                fresh = status.get("observedGeneration") == pdb["metadata"]["generation"]
                return status if fresh and seen == (allowed, healthy) else None

            status = await eventually(lambda: status_of("db", 1, 3), timeout=30)
            assert (status["expectedPods"], status["desiredHealthy"]) == (3, 2)
            (cond,) = status["conditions"]
            assert (cond["type"], cond["status"], cond["reason"]) == (
                "DisruptionAllowed",
                "True",
                "SufficientPods",
            )
            # The Deployment's scale (4) counts, not the two pods that exist: 50% of 4 is 2, none to spare.
            web = await eventually(lambda: status_of("web", 0, 2), timeout=30)
            assert (web["expectedPods"], web["desiredHealthy"]) == (4, 2)
            assert web["conditions"][0]["reason"] == "InsufficientPods"
            assert await evict(evictor, namespace, "web-a") == 429

            assert await evict(evictor, namespace, "db-a") == 201
            assert await evict(evictor, namespace, "db-b") == 429  # the budget is spent

            async def settled() -> Obj | None:
                status = await status_of("db", 0, 2)
                return status if status and not status.get("disruptedPods") else None

            status = await eventually(settled, timeout=30)  # db-a is gone: no longer pending deletion
            assert status["conditions"][0]["reason"] == "InsufficientPods"

            # A replacement becomes ready: one disruption allowed again.
            await owned_pod(client, namespace, "db-d", replicaset, "db", "10.3.0.4")
            await eventually(lambda: status_of("db", 1, 3), timeout=30)
            assert await evict(evictor, namespace, "db-b") == 201

            # A pod no controller owns cannot be counted against a scale: an event says so.
            await client.create(
                PODS,
                {"metadata": {"name": "stray", "labels": {"app": "db"}}, "spec": TEMPLATE_SPEC},
                namespace=namespace,
            )

            async def unmanaged_event() -> bool:
                events = (await client.list(EVENTS, namespace=namespace))["items"]
                return any(
                    e["reason"] == "UnmanagedPods" and e["involvedObject"]["name"] == "db" for e in events
                )

            await eventually(unmanaged_event, timeout=30)
    finally:
        with contextlib.suppress(StatusError):
            await client.delete(NAMESPACES, name=namespace)
        await client.close()
        await evictor.close()
