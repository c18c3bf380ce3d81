"""The namespace controller against a real server: `kubectl delete namespace` empties and removes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import CONFIGMAPS, NAMESPACES, NODES, PODS, SECRETS
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.crds import schemaless_crd
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
CRDS = StaticResource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)


def crd_body(group: str) -> Obj:
    return schemaless_crd(group, "gadgets", "Gadget")


@pytest.fixture
async def client(bare_server: KubelingServer) -> AsyncIterator[RESTClient]:
    rest = admin_client(bare_server)
    try:
        yield rest
    finally:
        await rest.close()


async def gone(client: RESTClient, name: str) -> bool:
    try:
        await client.get(NAMESPACES, name=name)
    except StatusError as exc:
        return exc.code == 404
    return False


async def test_kubectl_delete_namespace_empties_and_removes_it(
    bare_server: KubelingServer, client: RESTClient
) -> None:
    name = f"doomed-{uuid.uuid4().hex[:6]}"
    node = f"ns-node-{uuid.uuid4().hex[:6]}"
    group = f"ns{uuid.uuid4().hex[:6]}.example.com"
    await client.create(CRDS, crd_body(group))
    gadgets = StaticResource(group, "v1", "gadgets")
    try:
        async with hollow_nodes(bare_server, [node]):
            await client.create(NAMESPACES, {"metadata": {"name": name}})
            await client.create(
                CONFIGMAPS, {"metadata": {"name": "settings"}, "data": {"a": "b"}}, namespace=name
            )
            await client.create(
                SECRETS, {"metadata": {"name": "token"}, "stringData": {"a": "b"}}, namespace=name
            )
            for i in range(2):
                pod = {
                    "metadata": {"name": f"p{i}"},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36"}]},
                }
                await client.create(PODS, pod, namespace=name)

            async def gadget_served() -> bool:
                try:
                    body = {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g"}}
                    await client.create(gadgets, body, namespace=name)
                except StatusError:
                    return False
                return True

            await eventually(gadget_served)

            async def running() -> bool:
                pods = (await client.list(PODS, namespace=name))["items"]
                return len([p for p in pods if p.get("status", {}).get("phase") == "Running"]) == 2

            await eventually(running)
            async with controllers_running(bare_server, ["namespace-controller"]):
                result = await asyncio.to_thread(
                    kubectl, bare_server, "delete", "namespace", name, "--timeout=45s"
                )
                assert f'namespace "{name}" deleted' in result.stdout
                assert await gone(client, name)
    finally:
        await client.delete(CRDS, name=f"gadgets.{group}")
        try:
            await client.delete(NODES, name=node)
        except StatusError:
            pass


async def test_finalizers_in_the_namespace_hold_it_and_are_reported(
    bare_server: KubelingServer, client: RESTClient
) -> None:
    name = f"held-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await client.create(CONFIGMAPS, held, namespace=name)
    await client.create(CONFIGMAPS, {"metadata": {"name": "free"}}, namespace=name)
    async with controllers_running(bare_server, ["namespace-controller"]):
        await client.delete(NAMESPACES, name=name)

        async def reported() -> dict[str, Obj] | None:
            namespace = await client.get(NAMESPACES, name=name)
            conds = {c["type"]: c for c in (namespace.get("status") or {}).get("conditions") or []}
            if conds.get("NamespaceFinalizersRemaining", {}).get("status") == "True":
                return conds
            return None

        conds = await eventually(reported, timeout=30)
        assert conds["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
        assert conds["NamespaceFinalizersRemaining"]["message"] == (
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
        assert conds["NamespaceContentRemaining"]["message"] == (
            "Some resources are remaining: configmaps has 1 resource instances"
        )
        assert conds["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
        assert conds["NamespaceDeletionDiscoveryFailure"]["reason"] == "ResourcesDiscovered"
        assert conds["NamespaceDeletionContentFailure"]["reason"] == "ContentDeleted"
        names = [c["metadata"]["name"] for c in (await client.list(CONFIGMAPS, namespace=name))["items"]]
        assert names == ["held"]
        await client.patch(CONFIGMAPS, {"metadata": {"finalizers": None}}, name="held", namespace=name)
        await eventually(lambda: gone(client, name), timeout=30)
