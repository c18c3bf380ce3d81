"""Node lifecycle against a real server: a hollow kubelet stops, its Node goes Unknown and is tainted,
its pods are evicted as their tolerations say; the kubelet comes back and the taints go."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import EVENTS, NAMESPACES, NODES, PODS, REPLICASETS
from kubeling.kubelet.hollow import HollowNode
from kubeling.scheduler.app import SchedulerConfig
from kubeling.scheduler.app import run as run_scheduler
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

UNREACHABLE = "node.kubernetes.io/unreachable"
OPTIONS = ControllerOptions(node_monitor_period=0.5, node_monitor_grace_period=4.0, node_eviction_rate=100.0)


def pod(name: str, node: str, tolerations: list[dict[str, object]] | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"nodeName": node, "containers": [{"name": "c", "image": "pause"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def tolerate_unreachable(seconds: int | None) -> list[dict[str, object]]:
    toleration: dict[str, object] = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    return [toleration]


def condition(obj: dict[str, object], kind: str) -> dict[str, object] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:  # type: ignore[union-attr]
        if cond["type"] == kind:
            return cond
    return None


@contextlib.asynccontextmanager
async def hollow_node_again(client: RESTClient, node: HollowNode) -> AsyncIterator[HollowNode]:
    """The same node's kubelet started anew (it re-registers and posts Ready)."""
    revived = HollowNode(client, node.config)
    task = asyncio.create_task(revived.run())
    try:
        yield revived
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_dead_kubelet_taints_its_node_and_evicts_pods_by_toleration(
    bare_server: KubelingServer,
) -> None:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    dead, alive = f"nlc-dead-{suffix}", f"nlc-alive-{suffix}"
    zone = {"topology.kubernetes.io/zone": f"zone-{suffix}"}  # a zone of our own: others' nodes don't count
    namespace = f"nlc-{suffix}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with hollow_nodes(bare_server, [dead, alive], labels={dead: zone, alive: zone}) as nodes:
            bodies = [
                pod("at-once", dead, tolerate_unreachable(0)),
                pod("defaulted", dead),  # admission gives it the default 300 s
                pod("two-seconds", dead, tolerate_unreachable(2)),
                pod("forever", dead, tolerate_unreachable(None)),
                pod("elsewhere", alive),
            ]
            for body in bodies:
                await client.create(PODS, body, namespace=namespace)

            async def running() -> bool:
                pods = (await client.list(PODS, namespace=namespace))["items"]
                return len(pods) == 5 and all(p["status"].get("phase") == "Running" for p in pods)

            await eventually(running, timeout=30)
            names = ["node-lifecycle-controller", "taint-eviction-controller"]
            async with controllers_running(bare_server, names, OPTIONS):
                await asyncio.sleep(1.5)  # healthy nodes stay untainted past a few monitor periods
                assert not (await client.get(NODES, name=alive))["spec"].get("taints")
                assert not (await client.get(NODES, name=dead))["spec"].get("taints")

                await nodes[dead].stop()  # its Lease is not renewed any more

                async def tainted() -> dict[str, object] | None:
                    node = await client.get(NODES, name=dead)
                    taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
                    wanted = {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}
                    return node if wanted <= taints else None

                node = await eventually(tainted, timeout=30)
                tainted_at = asyncio.get_running_loop().time()
                ready = condition(node, "Ready")
                assert ready is not None
                assert (ready["status"], ready["reason"], ready["message"]) == (
                    "Unknown",
                    "NodeStatusUnknown",
                    "Kubelet stopped posting node status.",
                )
                assert condition(node, "MemoryPressure")["status"] == "Unknown"  # type: ignore[index]

                async def deleted(name: str) -> dict[str, object] | None:
                    try:
                        current = await client.get(PODS, name=name, namespace=namespace)
                    except StatusError as exc:
                        return {"gone": True} if exc.code == 404 else None
                    return current if current["metadata"].get("deletionTimestamp") else None

                at_once = await eventually(lambda: deleted("at-once"), timeout=15)
                target = condition(at_once, "DisruptionTarget")
                assert target is not None and target["reason"] == "DeletionByTaintManager"
                if asyncio.get_running_loop().time() - tainted_at < 1.0:  # still tolerated
                    assert await deleted("two-seconds") is None
                await eventually(lambda: deleted("two-seconds"), timeout=15)
                assert asyncio.get_running_loop().time() - tainted_at >= 1.5  # waited for its toleration

                forever = await client.get(PODS, name="forever", namespace=namespace)
                assert not forever["metadata"].get("deletionTimestamp")
                assert not await deleted("defaulted")
                assert condition(forever, "Ready")["status"] == "False"  # type: ignore[index]  # MarkPodsNotReady
                elsewhere = await client.get(PODS, name="elsewhere", namespace=namespace)
                assert condition(elsewhere, "Ready")["status"] == "True"  # type: ignore[index]
                assert not (await client.get(NODES, name=alive))["spec"].get("taints")

                events = (await client.list(EVENTS, namespace=namespace))["items"]
                assert any(
                    e["reason"] == "TaintManagerEviction" and e["involvedObject"]["name"] == "at-once"
                    for e in events
                )

                # The kubelet comes back: Ready again, the taints go.
                async with hollow_node_again(client, nodes[dead]):

                    async def untainted() -> bool:
                        node = await client.get(NODES, name=dead)
                        ready = condition(node, "Ready") or {}
                        return not node["spec"].get("taints") and ready.get("status") == "True"

                    await eventually(untainted, timeout=30)
                    assert not (await client.get(PODS, name="forever", namespace=namespace))["metadata"].get(
                        "deletionTimestamp"
                    )
    finally:
        for name in (dead, alive):
            with contextlib.suppress(StatusError):
                await client.delete(NODES, name=name)
        for body in ("at-once", "defaulted", "two-seconds", "forever", "elsewhere"):
            with contextlib.suppress(StatusError):
                await client.delete(PODS, name=body, namespace=namespace, grace_period_seconds=0)
        with contextlib.suppress(StatusError):
            await client.delete(NAMESPACES, name=namespace)
        await client.close()


@contextlib.asynccontextmanager
async def scheduler_running(server: KubelingServer) -> AsyncIterator[None]:
    client = admin_client(server, "kube-scheduler")
    task = asyncio.create_task(run_scheduler(SchedulerConfig(leader_elect=False), client))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def replicaset(name: str, zone: dict[str, str], preferred_node: str) -> dict[str, object]:
    """Pods confined to our zone, preferring ``preferred_node``, leaving an unreachable node at once."""
    affinity = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [preferred_node]}
                        ]
                    },
                }
            ]
        }
    }
    template_spec = {
        "nodeSelector": zone,
        "affinity": affinity,
        "tolerations": tolerate_unreachable(0),
        "containers": [{"name": "c", "image": "pause"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec},
        },
    }


async def test_a_replicaset_replaces_evicted_pods_on_the_live_node(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    dead, alive = f"nlc-rs-dead-{suffix}", f"nlc-rs-alive-{suffix}"
    zone = {"topology.kubernetes.io/zone": f"zone-rs-{suffix}"}
    namespace = f"nlc-rs-{suffix}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    names = ["node-lifecycle-controller", "taint-eviction-controller", "replicaset-controller"]
    try:
        async with (
            hollow_nodes(bare_server, [dead, alive], labels={dead: zone, alive: zone}, subnet=110) as nodes,
            controllers_running(bare_server, names, OPTIONS),
            scheduler_running(bare_server),
        ):
            await client.create(REPLICASETS, replicaset("web", zone, dead), namespace=namespace)

            async def pods_by_node() -> dict[str, list[str]]:
                found: dict[str, list[str]] = {}
                for item in (await client.list(PODS, namespace=namespace))["items"]:
                    running = item["status"].get("phase") == "Running"
                    if running and not item["metadata"].get("deletionTimestamp"):
                        found.setdefault(item["spec"].get("nodeName", ""), []).append(
                            item["metadata"]["name"]
                        )
                return found

            async def started() -> dict[str, list[str]] | None:
                found = await pods_by_node()
                return found if sum(map(len, found.values())) == 2 and found.get(dead) else None

            before = await eventually(started, timeout=30)
            await nodes[dead].stop()
            stopped_at = asyncio.get_running_loop().time()

            async def replaced() -> dict[str, list[str]] | None:
                found = await pods_by_node()
                return found if list(found) == [alive] and len(found[alive]) == 2 else None

            after = await eventually(replaced, timeout=40)
            # Not before the grace period (4 s) since the last lease renewal (at most 1 s before the stop).
            assert asyncio.get_running_loop().time() - stopped_at >= 3.0
            assert not set(before[dead]) & set(after[alive])  # new pods, not the old ones moved
    finally:
        for name in (dead, alive):
            with contextlib.suppress(StatusError):
                await client.delete(NODES, name=name)
        with contextlib.suppress(StatusError):
            await client.delete(REPLICASETS, name="web", namespace=namespace)
        for item in (await client.list(PODS, namespace=namespace))["items"]:
            with contextlib.suppress(StatusError):
                await client.delete(
                    PODS, name=item["metadata"]["name"], namespace=namespace, grace_period_seconds=0
                )
        with contextlib.suppress(StatusError):
            await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def test_taints_follow_the_conditions_a_kubelet_posts(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    name, healthy = f"nlc-cond-{suffix}", f"nlc-ok-{suffix}"
    options = ControllerOptions(
        node_monitor_period=0.5, node_monitor_grace_period=60.0, node_eviction_rate=OPTIONS.node_eviction_rate
    )

    async def post(node_name: str, ready: str, memory: str, unschedulable: bool) -> None:
        node = await client.get(NODES, name=node_name)
        node["spec"]["unschedulable"] = unschedulable
        node = await client.update(NODES, node)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        node["status"] = {
            "conditions": [
                {"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now}
                for kind, status in (("Ready", ready), ("MemoryPressure", memory))
            ]
        }
        await client.update(NODES, node, subresource="status")

    async def taints_are(expected: set[tuple[str, str]]) -> bool:
        node = await client.get(NODES, name=name)
        return {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []} == expected

    try:
        # A ready node elsewhere: with every node down the controller would suspect itself and hold back.
        for node_name, zone in ((name, "sick"), (healthy, "fine")):
            labels = {"topology.kubernetes.io/zone": f"{zone}-{suffix}"}
            await client.create(NODES, {"metadata": {"name": node_name, "labels": labels}})
        await post(healthy, "True", "False", False)
        await post(name, "False", "True", True)
        async with controllers_running(bare_server, ["node-lifecycle-controller"], options):
            sick = {
                ("node.kubernetes.io/not-ready", "NoExecute"),
                ("node.kubernetes.io/not-ready", "NoSchedule"),
                ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                ("node.kubernetes.io/unschedulable", "NoSchedule"),
            }
            await eventually(lambda: taints_are(sick), timeout=30)
            await post(name, "True", "False", False)
            await eventually(lambda: taints_are(set()), timeout=30)
    finally:
        for node_name in (name, healthy):
            with contextlib.suppress(StatusError):
                await client.delete(NODES, name=node_name)
        await client.close()
