"""The StatefulSet controller against a real server, hollow nodes and real kubectl."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import (
    CONTROLLERREVISIONS,
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    STATEFULSETS,
)
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


class PodLog:
    """Every pod watch event of a namespace, in order: (type, name, ready)."""

    def __init__(self, client: RESTClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.events: list[tuple[str, str, bool]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        listing = await self.client.list(PODS, namespace=self.namespace)
        rv = listing["metadata"]["resourceVersion"]
        while True:
            async for kind, pod in self.client.watch(
                PODS, namespace=self.namespace, resource_version=rv, timeout_seconds=60
            ):
                if kind == "BOOKMARK":
                    continue
                rv = pod["metadata"]["resourceVersion"]
                conditions = (pod.get("status") or {}).get("conditions") or []
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
                self.events.append((kind, pod["metadata"]["name"], ready))

    async def __aenter__(self) -> PodLog:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.3)  # let the watch open before the test acts
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def first(self, kind: str, name: str, *, ready: bool | None = None) -> int:
        for index, (k, n, r) in enumerate(self.events):
            if k == kind and n == name and (ready is None or r == ready):
                return index
        raise AssertionError(f"no {kind} event of {name} (ready={ready}) in {self.events}")


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str, str]]:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    namespace, node = f"sts-{suffix}", f"sts-node-{suffix}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with (
            hollow_nodes(bare_server, [node], subnet=130),
            controllers_running(bare_server, ["statefulset-controller"]),
        ):
            yield client, namespace, node
    finally:
        for name, resource in ((namespace, NAMESPACES), (node, NODES)):
            try:
                await client.delete(resource, name=name)
            except StatusError:
                pass
        await client.close()


def statefulset(node: str, replicas: int = 3, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "serviceName": "web",
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "sts"}},
            "template": {
                "metadata": {"labels": {"app": "sts"}},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox:1.36"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
            **spec,
        },
    }


async def run_kubectl(server: KubelingServer, *args: str, input: str | None = None) -> Any:
    return await asyncio.to_thread(kubectl, server, *args, input=input, timeout=90)


async def test_ordered_creation_rolling_update_partition_and_scale_down(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, node = env
    async with PodLog(client, namespace) as log:
        await run_kubectl(
            bare_server, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(statefulset(node))
        )
        await run_kubectl(
            bare_server, "rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s"
        )
        # OrderedReady: each pod is created only after the one before it was seen Ready.
        assert (
            log.first("ADDED", "web-0")
            < log.first("MODIFIED", "web-0", ready=True)
            < log.first("ADDED", "web-1")
        )
        assert log.first("MODIFIED", "web-1", ready=True) < log.first("ADDED", "web-2")

    pods = {p["metadata"]["name"]: p for p in (await client.list(PODS, namespace=namespace))["items"]}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    web1 = pods["web-1"]
    assert (web1["spec"]["hostname"], web1["spec"]["subdomain"]) == ("web-1", "web")
    assert web1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert web1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    volume = next(v for v in web1["spec"]["volumes"] if v["name"] == "data")
    assert volume["persistentVolumeClaim"]["claimName"] == "data-web-1"
    claims = (await client.list(PERSISTENTVOLUMECLAIMS, namespace=namespace))["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-web-0", "data-web-1", "data-web-2"]
    assert all(not c["metadata"].get("ownerReferences") for c in claims)  # Retain: never owned
    assert all(c["metadata"]["labels"] == {"app": "sts"} for c in claims)

    sts = await client.get(STATEFULSETS, name="web", namespace=namespace)
    first_revision = sts["status"]["currentRevision"]
    assert sts["status"]["updateRevision"] == first_revision
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods.values()} == {first_revision}
    assert {
        k: sts["status"][k] for k in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas")
    } == {
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
    }

    # A rolling update replaces pods from the highest ordinal down.
    async with PodLog(client, namespace) as log:
        await run_kubectl(
            bare_server, "set", "image", "statefulset/web", "main=busybox:1.37", "-n", namespace
        )
        await run_kubectl(
            bare_server, "rollout", "status", "statefulset/web", "-n", namespace, "--timeout=60s"
        )
        assert log.first("DELETED", "web-2") < log.first("DELETED", "web-1") < log.first("DELETED", "web-0")
    sts = await client.get(STATEFULSETS, name="web", namespace=namespace)
    second_revision = sts["status"]["updateRevision"]
    assert second_revision != first_revision and sts["status"]["currentRevision"] == second_revision
    revisions = (await client.list(CONTROLLERREVISIONS, namespace=namespace))["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]

    # With partition 2 only web-2 moves to the next template.
    await client.patch(
        STATEFULSETS,
        {
            "spec": {
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                "template": {"spec": {"containers": [{"name": "main", "image": "busybox:1.38"}]}},
            }
        },
        name="web",
        namespace=namespace,
        patch_type="strategic",
    )

    async def partitioned() -> bool:
        current = await client.get(STATEFULSETS, name="web", namespace=namespace)
        status = current["status"]
        pods = {p["metadata"]["name"]: p for p in (await client.list(PODS, namespace=namespace))["items"]}
        images = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
        return (
            status.get("updatedReplicas") == 1
            and status.get("readyReplicas") == 3
            and images == {"web-0": "busybox:1.37", "web-1": "busybox:1.37", "web-2": "busybox:1.38"}
        )

    await eventually(partitioned, timeout=30)

    # Scale down: highest ordinal first, claims kept.
    async with PodLog(client, namespace) as log:
        await client.patch(STATEFULSETS, {"spec": {"replicas": 1}}, name="web", namespace=namespace)

        async def scaled_down() -> bool:
            names = [p["metadata"]["name"] for p in (await client.list(PODS, namespace=namespace))["items"]]
            return names == ["web-0"]

        await eventually(scaled_down, timeout=30)
        assert log.first("DELETED", "web-2") < log.first("DELETED", "web-1")
    claims = (await client.list(PERSISTENTVOLUMECLAIMS, namespace=namespace))["items"]
    assert len(claims) == 3


async def test_parallel_creates_every_pod_at_once(
    bare_server: KubelingServer, env: tuple[RESTClient, str, str]
) -> None:
    client, namespace, _ = env
    # Pods pinned to a node that does not exist never become Ready; Parallel creates them anyway.
    manifest = statefulset("no-such-node", podManagementPolicy="Parallel", volumeClaimTemplates=[])
    await client.create(STATEFULSETS, manifest, namespace=namespace)

    async def all_created() -> bool:
        pods = (await client.list(PODS, namespace=namespace))["items"]
        return sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1", "web-2"]

    await eventually(all_created, timeout=30)
