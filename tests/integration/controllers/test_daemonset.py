"""The DaemonSet controller with the scheduler, against a real server, hollow nodes and real kubectl.

Daemon pods carry a node affinity and are placed by the default scheduler (as
upstream), so this test runs the scheduler.  The bare server is shared with
other tests, so the DaemonSet selects only this test's nodes by a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import CONTROLLERREVISIONS, DAEMONSETS, NAMESPACES, NODES, PODS
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer, kubectl

try:
    from kubeling.scheduler.app import SchedulerConfig, run

    scheduler_available = True
except ImportError:  # pragma: no cover - the scheduler is built by another issue
    scheduler_available = False

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not scheduler_available, reason="daemon pods are placed by the scheduler, not built yet"
    ),
]

Obj = dict[str, Any]


@contextlib.asynccontextmanager
async def scheduler_running(server: KubelingServer) -> AsyncIterator[None]:
    client = admin_client(server, "kube-scheduler")
    task = asyncio.create_task(run(SchedulerConfig(leader_elect=False), client))
    try:
        yield
        if task.done():
            task.result()  # the scheduler crashed during the test: say so
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def daemonset(selector_value: str, image: str = "busybox:1.36") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"ds-test": selector_value},
                    "containers": [{"name": "main", "image": image}],
                },
            },
        },
    }


async def live_pods(client: RESTClient, namespace: str) -> list[Obj]:
    items = (await client.list(PODS, namespace=namespace, label_selector="app=agent"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def ready_nodes(client: RESTClient, names: list[str]) -> None:
    """Wait for the nodes to register, then lift the not-ready taint they start with.

    That is the node lifecycle controller's job, which this test does not run; daemon pods
    (as upstream) tolerate not-ready only for NoExecute, so they wait for it.
    """

    async def registered() -> bool:
        for name in names:
            try:
                await client.get(NODES, name=name)
            except StatusError:
                return False
        return True

    await eventually(registered, timeout=30)
    for name in names:
        await client.patch(NODES, {"spec": {"taints": None}}, name=name)


async def test_one_pod_per_node_follows_nodes_and_rolls(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    namespace = f"ds-{suffix}"
    first = [f"ds-node-{suffix}-{i}" for i in range(2)]
    extra = f"ds-node-{suffix}-2"
    labels = {name: {"ds-test": suffix} for name in [*first, extra]}

    async def kubectl_(*args: str, input: str | None = None) -> Any:
        return await asyncio.to_thread(kubectl, bare_server, *args, "-n", namespace, input=input, timeout=90)

    async def placement() -> dict[str, str]:
        return {
            p["spec"].get("nodeName", ""): p["metadata"]["name"] for p in await live_pods(client, namespace)
        }

    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with (
            hollow_nodes(bare_server, first, labels=labels, subnet=140),
            controllers_running(bare_server, ["daemonset-controller"]),
            scheduler_running(bare_server),
        ):
            await ready_nodes(client, first)
            await kubectl_("apply", "-f", "-", input=yaml.safe_dump(daemonset(suffix)))
            await kubectl_("rollout", "status", "daemonset/agent", "--timeout=60s")
            pods = await live_pods(client, namespace)
            assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(first)
            pod = pods[0]
            terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert terms == {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": [pod["spec"]["nodeName"]]}
                        ]
                    }
                ]
            }
            tolerations = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
            assert {
                ("node.kubernetes.io/not-ready", "NoExecute"),
                ("node.kubernetes.io/unreachable", "NoExecute"),
                ("node.kubernetes.io/unschedulable", "NoSchedule"),
                ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            } <= tolerations
            ds = await client.get(DAEMONSETS, name="agent", namespace=namespace)
            assert {
                k: ds["status"][k]
                for k in ("desiredNumberScheduled", "numberReady", "updatedNumberScheduled")
            } == {
                "desiredNumberScheduled": 2,
                "numberReady": 2,
                "updatedNumberScheduled": 2,
            }
            [revision] = (await client.list(CONTROLLERREVISIONS, namespace=namespace))["items"]
            assert pod["metadata"]["labels"]["controller-revision-hash"] in revision["metadata"]["name"]

            # A new node gets its pod.
            async with hollow_nodes(bare_server, [extra], labels=labels, subnet=141):
                await ready_nodes(client, [extra])

                async def on_every_node() -> bool:
                    return sorted(await placement()) == sorted([*first, extra])

                await eventually(on_every_node, timeout=30)

            # A node relabelled out of the selector loses its pod.
            await client.patch(NODES, {"metadata": {"labels": {"ds-test": "elsewhere"}}}, name=first[1])

            async def only_first() -> bool:
                return list(await placement()) == [first[0]] or sorted(await placement()) == sorted(
                    [first[0], extra]
                )

            await eventually(only_first, timeout=30)
            await client.delete(NODES, name=extra)

            async def desired_one() -> bool:
                current = await client.get(DAEMONSETS, name="agent", namespace=namespace)
                return current["status"].get("desiredNumberScheduled") == 1

            await eventually(desired_one, timeout=30)
            await client.patch(NODES, {"metadata": {"labels": {"ds-test": suffix}}}, name=first[1])
            await kubectl_("rollout", "status", "daemonset/agent", "--timeout=60s")

            # A new image rolls out node by node.
            await kubectl_("set", "image", "daemonset/agent", "main=busybox:1.37")
            await kubectl_("rollout", "status", "daemonset/agent", "--timeout=60s")

            async def rolled() -> bool:
                pods = [p for p in await live_pods(client, namespace) if p["spec"].get("nodeName") in first]
                return len(pods) == 2 and {p["spec"]["containers"][0]["image"] for p in pods} == {
                    "busybox:1.37"
                }

            await eventually(rolled, timeout=30)
            revisions = (await client.list(CONTROLLERREVISIONS, namespace=namespace))["items"]
            assert sorted(r["revision"] for r in revisions) == [1, 2]
    finally:
        for name, resource in [(namespace, NAMESPACES), *((n, NODES) for n in [*first, extra])]:
            try:
                await client.delete(resource, name=name)
            except StatusError:
                pass
        await client.close()
