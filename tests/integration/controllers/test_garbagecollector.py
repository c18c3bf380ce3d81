"""The garbage collector against a real server: background, orphan and foreground deletion, custom resources.

The ownership chain Deployment → ReplicaSet → pods is built by hand (no
deployment or replicaset controller runs); the pods run on a hollow node,
which confirms their graceful deletion as a kubelet would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, NODES, PODS, REPLICASETS
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.crds import schemaless_crd
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
CRDS = StaticResource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
OPTIONS = ControllerOptions(extra={"gc_rediscovery_period": 1.0})


def owner_ref(owner: Obj, *, block: bool = True) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }


TEMPLATE = {
    "metadata": {"labels": {"app": "x"}},
    "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
}


async def build_chain(client: RESTClient, namespace: str, name: str, node: str) -> tuple[Obj, Obj, list[Obj]]:
    """A Deployment owning a ReplicaSet owning two running pods."""
    spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": TEMPLATE}
    spec = {**spec, "template": {**TEMPLATE, "metadata": {"labels": {"app": name}}}}
    deployment = await client.create(
        DEPLOYMENTS,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": spec,
        },
        namespace=namespace,
    )
    deployment.setdefault("apiVersion", "apps/v1")
    deployment.setdefault("kind", "Deployment")
    rs_body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-rs",
            "labels": {"app": name},
            "ownerReferences": [owner_ref(deployment)],
        },
        "spec": spec,
    }
    replicaset = await client.create(REPLICASETS, rs_body, namespace=namespace)
    replicaset.setdefault("apiVersion", "apps/v1")
    replicaset.setdefault("kind", "ReplicaSet")
    pods = []
    for i in range(2):
        pod_body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-{i}",
                "labels": {"app": name},
                "ownerReferences": [owner_ref(replicaset)],
            },
            "spec": {**TEMPLATE["spec"], "nodeName": node},
        }
        pods.append(await client.create(PODS, pod_body, namespace=namespace))
    return deployment, replicaset, pods


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str, str]]:
    client = admin_client(bare_server)
    namespace = f"gc-{uuid.uuid4().hex[:6]}"
    node = f"gc-node-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with (
            hollow_nodes(bare_server, [node]),
            controllers_running(bare_server, ["garbage-collector-controller"], OPTIONS),
        ):
            yield client, namespace, node
    finally:
        for resource, kwargs in ((NODES, {"name": node}), (NAMESPACES, {"name": namespace})):
            try:
                await client.delete(resource, **kwargs)
            except StatusError:
                pass
        await client.close()


async def names(client: RESTClient, resource: Any, namespace: str, selector: str) -> list[str]:
    items = (await client.list(resource, namespace=namespace, label_selector=selector))["items"]
    return sorted(i["metadata"]["name"] for i in items)


async def test_deleting_a_deployment_removes_its_replicasets_and_pods(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    await build_chain(client, namespace, "web", node)
    await asyncio.to_thread(kubectl, bare_server, "delete", "deployment", "web", "-n", namespace)

    async def all_gone() -> bool:
        rs = await names(client, REPLICASETS, namespace, "app=web")
        pods = await names(client, PODS, namespace, "app=web")
        return not rs and not pods

    await eventually(all_gone, timeout=30)


async def test_orphan_cascade_keeps_dependents_and_removes_references(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    _, replicaset, _ = await build_chain(client, namespace, "kept", node)
    await asyncio.to_thread(
        kubectl,
        bare_server,
        "delete",
        "deployment",
        "kept",
        "-n",
        namespace,
        "--cascade=orphan",
        "--timeout=30s",
    )
    with pytest.raises(StatusError) as gone:
        await client.get(DEPLOYMENTS, name="kept", namespace=namespace)
    assert gone.value.code == 404
    rs = await client.get(REPLICASETS, name="kept-rs", namespace=namespace)
    assert not rs["metadata"].get("ownerReferences")
    # Pods keep their own owner, the ReplicaSet, and are not deleted.
    await asyncio.sleep(1.0)  # give a wrong cascade a chance to show
    for pod in (await client.list(PODS, namespace=namespace, label_selector="app=kept"))["items"]:
        assert not pod["metadata"].get("deletionTimestamp")
        assert pod["metadata"]["ownerReferences"][0]["uid"] == replicaset["metadata"]["uid"]


async def test_foreground_cascade_deletes_dependents_first(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    await build_chain(client, namespace, "fg", node)
    await asyncio.to_thread(
        kubectl,
        bare_server,
        "delete",
        "deployment",
        "fg",
        "-n",
        namespace,
        "--cascade=foreground",
        "--wait=false",
    )
    deployment = await client.get(DEPLOYMENTS, name="fg", namespace=namespace)
    assert "foregroundDeletion" in deployment["metadata"]["finalizers"]
    # Owners are looked at before their dependents in each round: an owner seen gone while a
    # dependent is seen afterwards would be an owner that went first.
    violations: list[str] = []

    async def all_gone() -> bool:
        dep = bool(await names(client, DEPLOYMENTS, namespace, "app=fg"))
        rs = bool(await names(client, REPLICASETS, namespace, "app=fg"))
        pods = bool(await names(client, PODS, namespace, "app=fg"))
        if not dep and rs:
            violations.append("the Deployment went before its ReplicaSet")
        if not rs and pods:
            violations.append("the ReplicaSet went before its pods")
        return not (dep or rs or pods)

    await eventually(all_gone, timeout=30, interval=0.05)
    assert not violations


async def test_a_dependent_of_a_missing_owner_is_collected(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, _ = env
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "never", "uid": str(uuid.uuid4())}
    real = await client.create(CONFIGMAPS, {"metadata": {"name": "owner"}}, namespace=namespace)
    real.update(apiVersion="v1", kind="ConfigMap")
    body = {"metadata": {"name": "lost", "labels": {"t": "ghost"}, "ownerReferences": [ghost]}}
    await client.create(CONFIGMAPS, body, namespace=namespace)
    # Two owners, one real: the dependent stays, and loses the reference to the missing one.
    both = {
        "metadata": {
            "name": "half",
            "labels": {"t": "ghost"},
            "ownerReferences": [ghost, owner_ref(real, block=False)],
        }
    }
    await client.create(CONFIGMAPS, both, namespace=namespace)

    async def collected() -> bool:
        return await names(client, CONFIGMAPS, namespace, "t=ghost") == ["half"]

    await eventually(collected, timeout=30)

    async def pruned() -> bool:
        half = await client.get(CONFIGMAPS, name="half", namespace=namespace)
        return [r["uid"] for r in half["metadata"]["ownerReferences"]] == [real["metadata"]["uid"]]

    await eventually(pruned)


async def test_custom_resources_created_later_are_collected(env: tuple[RESTClient, str, str]) -> None:
    client, namespace, _ = env
    group = f"gc{uuid.uuid4().hex[:6]}.example.com"
    crd = schemaless_crd(group, "widgets", "Widget")
    await client.create(CRDS, crd)
    widgets = StaticResource(group, "v1", "widgets")
    try:

        async def served() -> Obj | None:
            try:
                return await client.create(
                    widgets,
                    {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}},
                    namespace=namespace,
                )
            except StatusError:
                return None

        widget = await eventually(served)
        body = {"metadata": {"name": "of-widget", "ownerReferences": [owner_ref(widget)]}}
        await client.create(CONFIGMAPS, body, namespace=namespace)
        # A widget owned by a configmap: custom resources are collected as dependents too.
        cm = await client.create(CONFIGMAPS, {"metadata": {"name": "widget-owner"}}, namespace=namespace)
        cm.update(apiVersion="v1", kind="ConfigMap")
        owned = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w2", "ownerReferences": [owner_ref(cm)]},
        }
        await client.create(widgets, owned, namespace=namespace)
        await client.delete(widgets, name="w", namespace=namespace)
        await client.delete(CONFIGMAPS, name="widget-owner", namespace=namespace)

        async def collected() -> bool:
            try:
                await client.get(CONFIGMAPS, name="of-widget", namespace=namespace)
                return False
            except StatusError as exc:
                if exc.code != 404:
                    raise
            return not (await client.list(widgets, namespace=namespace))["items"]

        await eventually(collected, timeout=30)
    finally:
        await client.delete(CRDS, name=f"widgets.{group}")
