"""The pod garbage collector against a real server: terminated, orphaned and unscheduled terminating pods."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import NAMESPACES, PODS
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
KEEP = "example.com/keep"  # holds a force-deleted pod so the test can look at it


def pod(name: str, node: str | None = None, finalizers: list[str] | None = None) -> Obj:
    body: Obj = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    if node:
        body["spec"]["nodeName"] = node
    if finalizers:
        body["metadata"]["finalizers"] = finalizers
    return body


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str]]:
    client = admin_client(bare_server)
    namespace = f"podgc-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        yield client, namespace
    finally:
        for item in (await client.list(PODS, namespace=namespace))["items"]:
            if item["metadata"].get("finalizers"):
                try:
                    await client.patch(
                        PODS,
                        {"metadata": {"finalizers": None}},
                        name=item["metadata"]["name"],
                        namespace=namespace,
                    )
                except StatusError:
                    pass
        await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def terminated(client: RESTClient) -> list[Obj]:
    items = (await client.list(PODS))["items"]
    return [p for p in items if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")]


async def test_terminated_pods_above_the_threshold_go_oldest_first(
    bare_server: KubelingServer, env: tuple[RESTClient, str]
) -> None:
    client, namespace = env
    before = len(await terminated(client))  # the shared server may hold other tests' finished pods
    names = [f"done-{i}" for i in range(4)]
    for name in names:
        created = await client.create(PODS, pod(name), namespace=namespace)
        created["status"] = {**(created.get("status") or {}), "phase": "Succeeded"}
        await client.update(PODS, created, namespace=namespace, name=name, subresource="status")
        await asyncio.sleep(1.05)  # creation timestamps have whole seconds: make the order unambiguous
    options = ControllerOptions(terminated_pod_gc_threshold=before + 2, extra={"podgc_period": 0.5})
    async with controllers_running(bare_server, ["pod-garbage-collector-controller"], options):

        async def trimmed() -> bool:
            return len(await terminated(client)) == before + 2

        await eventually(trimmed, timeout=20)
    left = {p["metadata"]["name"] for p in (await client.list(PODS, namespace=namespace))["items"]}
    assert {"done-2", "done-3"} <= left  # the newest stay
    if before == 0:
        assert left == {"done-2", "done-3"}  # ours were the only ones: the two oldest went


async def test_pods_of_a_missing_node_are_marked_and_deleted_after_the_quarantine(
    bare_server: KubelingServer, env: tuple[RESTClient, str]
) -> None:
    client, namespace = env
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    await client.create(PODS, pod("orphan", node=ghost, finalizers=[KEEP]), namespace=namespace)
    await client.create(PODS, pod("plain-orphan", node=ghost), namespace=namespace)
    options = ControllerOptions(extra={"podgc_period": 0.5, "podgc_quarantine": 2.0})
    async with controllers_running(bare_server, ["pod-garbage-collector-controller"], options):
        await asyncio.sleep(1.0)
        still = await client.get(PODS, name="orphan", namespace=namespace)
        assert not still["metadata"].get("deletionTimestamp"), "deleted inside the quarantine"

        async def marked() -> Obj | None:
            current = await client.get(PODS, name="orphan", namespace=namespace)
            return current if current["metadata"].get("deletionTimestamp") else None

        held = await eventually(marked, timeout=20)
        assert held["status"]["phase"] == "Failed"
        cond = next(c for c in held["status"]["conditions"] if c["type"] == "DisruptionTarget")
        assert (cond["status"], cond["reason"], cond["message"]) == (
            "True",
            "DeletionByPodGC",
            "PodGC: node no longer exists",
        )
        assert held["metadata"]["deletionGracePeriodSeconds"] == 0

        async def plain_gone() -> bool:
            try:
                await client.get(PODS, name="plain-orphan", namespace=namespace)
            except StatusError as exc:
                return exc.code == 404
            return False

        await eventually(plain_gone, timeout=20)


async def test_unscheduled_terminating_pods_are_force_deleted(
    bare_server: KubelingServer, env: tuple[RESTClient, str]
) -> None:
    client, namespace = env
    await client.create(PODS, pod("stuck", finalizers=[KEEP]), namespace=namespace)
    await client.delete(PODS, name="stuck", namespace=namespace)
    options = ControllerOptions(extra={"podgc_period": 0.5})
    async with controllers_running(bare_server, ["pod-garbage-collector-controller"], options):

        async def failed() -> bool:
            current = await client.get(PODS, name="stuck", namespace=namespace)
            return (current.get("status") or {}).get("phase") == "Failed"

        await eventually(failed, timeout=20)
        await client.patch(PODS, {"metadata": {"finalizers": None}}, name="stuck", namespace=namespace)

        async def gone() -> bool:
            try:
                await client.get(PODS, name="stuck", namespace=namespace)
            except StatusError as exc:
                return exc.code == 404
            return False

        await eventually(gone)
