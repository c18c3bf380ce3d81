"""The scheduler against a real server and hollow nodes: placement rules, failures, recovery, preemption."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from kubeling.client.paths import StaticResource
from kubeling.kubelet.hollow import PODS
from tests.integration.scheduler.conftest import Cluster, eventually, pod_spec

pytestmark = pytest.mark.integration

PRIORITY_CLASSES = StaticResource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)
NO_VICTIMS = "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."


async def test_pods_spread_over_three_nodes(cluster: Cluster) -> None:
    for name in ("spread-a", "spread-b", "spread-c"):
        await cluster.add_node(name)
    cluster.start_scheduler()
    for i in range(6):
        await cluster.create(pod_spec(f"web-{i}"))
    placed = Counter([await cluster.node_of(f"web-{i}") for i in range(6)])
    assert placed == {"spread-a": 2, "spread-b": 2, "spread-c": 2}
    events = await cluster.events("web-0")
    scheduled = [e for e in events if e["reason"] == "Scheduled"]
    node = await cluster.node_of("web-0")
    assert (
        scheduled and scheduled[0]["message"] == f"Successfully assigned {cluster.namespace}/web-0 to {node}"
    )
    assert scheduled[0]["type"] == "Normal" and scheduled[0]["source"]["component"] == "default-scheduler"


async def test_too_big_pod_waits_for_a_big_enough_node(cluster: Cluster) -> None:
    for name in ("small-a", "small-b", "small-c"):
        await cluster.add_node(name, cpu="2")
    cluster.start_scheduler()
    await cluster.create(pod_spec("huge", cpu="3"))
    condition, event = await cluster.failed_scheduling("huge")
    expected = f"0/3 nodes are available: 3 Insufficient cpu. {NO_VICTIMS}"
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False",
        "Unschedulable",
        expected,
    )
    assert (event["type"], event["message"]) == ("Warning", expected)
    assert not (await cluster.get("huge"))["spec"].get("nodeName")

    await cluster.add_node("big", cpu="8")  # a node add moves the pod back to the active queue
    assert await cluster.node_of("huge") == "big"


async def test_taints_and_tolerations(cluster: Cluster) -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    await cluster.add_node("taint-gpu", taints=[taint], labels={"kind": "gpu"})
    await cluster.add_node("taint-plain")
    cluster.start_scheduler()
    for i in range(3):
        await cluster.create(pod_spec(f"plain-{i}"))
    assert {await cluster.node_of(f"plain-{i}") for i in range(3)} == {"taint-plain"}
    tolerating = pod_spec(
        "gpu-job",
        nodeSelector={"kind": "gpu"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
    )
    await cluster.create(tolerating)
    assert await cluster.node_of("gpu-job") == "taint-gpu"
    await cluster.create(pod_spec("intruder", nodeSelector={"kind": "gpu"}))
    _, event = await cluster.failed_scheduling("intruder")
    assert event["message"].startswith(
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint(s). preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling."
    )


async def test_node_selector_and_node_affinity(cluster: Cluster) -> None:
    await cluster.add_node("aff-ssd", labels={"disk": "ssd", "zone": "z1"})
    await cluster.add_node("aff-hdd", labels={"disk": "hdd", "zone": "z2"})
    await cluster.add_node("aff-none", labels={"zone": "z3"})
    cluster.start_scheduler()
    await cluster.create(pod_spec("selector", nodeSelector={"disk": "hdd"}))
    required = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z3"]}]}
                ]
            },
        }
    }
    preferred = {
        "nodeAffinity": {
            **required["nodeAffinity"],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]},
                }
            ],
        }
    }
    for i in range(3):
        await cluster.create(pod_spec(f"required-{i}", affinity=required))
        await cluster.create(pod_spec(f"preferred-{i}", affinity=preferred))
    assert await cluster.node_of("selector") == "aff-hdd"
    assert {await cluster.node_of(f"required-{i}") for i in range(3)} <= {"aff-ssd", "aff-none"}
    assert {await cluster.node_of(f"preferred-{i}") for i in range(3)} == {"aff-none"}


def anti_affinity(app: str) -> dict:
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }


async def test_pod_anti_affinity_and_affinity(cluster: Cluster) -> None:
    for name in ("anti-a", "anti-b", "anti-c"):
        await cluster.add_node(name)
    cluster.start_scheduler()
    for i in range(4):
        await cluster.create(pod_spec(f"db-{i}", labels={"app": "db"}, affinity=anti_affinity("db")))
    placed = [await cluster.node_of(f"db-{i}") for i in range(3)]
    assert sorted(placed) == ["anti-a", "anti-b", "anti-c"]
    _, event = await cluster.failed_scheduling("db-3")
    assert event["message"].startswith(
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: "
    )
    follower = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    await cluster.create(pod_spec("cache", affinity=follower))
    assert await cluster.node_of("cache") in placed


async def test_topology_spread_constraints(cluster: Cluster) -> None:
    await cluster.add_node("tsc-1a", labels={"zone": "one"})
    await cluster.add_node("tsc-1b", labels={"zone": "one"})
    await cluster.add_node("tsc-2a", labels={"zone": "two"})
    cluster.start_scheduler()
    constraint = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}},
        }
    ]
    for i in range(6):
        await cluster.create(
            pod_spec(f"s-{i}", labels={"app": "spread"}, topologySpreadConstraints=constraint)
        )
        await cluster.node_of(f"s-{i}")  # one at a time, so each decision sees the previous ones
    zones = Counter()
    for i in range(6):
        zones["one" if (await cluster.node_of(f"s-{i}")).startswith("tsc-1") else "two"] += 1
    assert zones == {"one": 3, "two": 3}


async def test_host_ports(cluster: Cluster) -> None:
    await cluster.add_node("port-a")
    await cluster.add_node("port-b")
    cluster.start_scheduler()
    for i in range(3):
        await cluster.create(pod_spec(f"hp-{i}", host_port=8080))
    nodes = {await cluster.node_of(f"hp-{i}") for i in range(2)}
    assert nodes == {"port-a", "port-b"}
    _, event = await cluster.failed_scheduling("hp-2")
    assert event["message"].startswith(
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    )


async def test_preemption_by_priority_class(cluster: Cluster) -> None:
    low, high, polite = (f"{cluster.namespace}-{suffix}" for suffix in ("low", "high", "polite"))
    classes = [
        {"metadata": {"name": low}, "value": 10},
        {"metadata": {"name": high}, "value": 1000},
        {"metadata": {"name": polite}, "value": 1000, "preemptionPolicy": "Never"},
    ]
    for body in classes:
        await cluster.client.create(
            PRIORITY_CLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", **body}
        )
    try:
        await cluster.add_node("prio-only", cpu="1")
        cluster.start_scheduler()
        await cluster.create(pod_spec("victim", cpu="800m", priorityClassName=low))
        assert await cluster.node_of("victim") == "prio-only"
        await cluster.create(pod_spec("never", cpu="800m", priorityClassName=polite))
        _, event = await cluster.failed_scheduling("never")
        assert event["message"] == (
            "0/1 nodes are available: 1 Insufficient cpu. "
            "preemption: not eligible due to preemptionPolicy=Never."
        )
        await cluster.client.delete(
            StaticResource("", "v1", "pods"),
            namespace=cluster.namespace,
            name="never",
            grace_period_seconds=0,
        )
        await cluster.create(pod_spec("vip", cpu="800m", priorityClassName=high))

        async def nominated() -> str:
            return (await cluster.get("vip")).get("status", {}).get("nominatedNodeName", "")

        assert await eventually(nominated, what="nominatedNodeName") == "prio-only"
        assert await cluster.node_of("vip", timeout=20) == "prio-only"
        preempted = [e for e in await cluster.events("victim") if e["reason"] == "Preempted"]
        assert preempted and preempted[0]["message"].startswith("Preempted by pod ")
    finally:
        for body in classes:
            await cluster.client.delete(PRIORITY_CLASSES, name=body["metadata"]["name"])


async def test_binding_happens_while_the_next_pods_are_scheduled(cluster: Cluster) -> None:
    for i in range(3):
        await cluster.add_node(f"conc-{i}", max_pods=4)
    scheduler = cluster.start_scheduler()
    for i in range(12):
        await cluster.create(pod_spec(f"c-{i}"))
    placed = Counter([await cluster.node_of(f"c-{i}") for i in range(12)])
    assert placed == {"conc-0": 4, "conc-1": 4, "conc-2": 4}
    await cluster.create(pod_spec("c-extra"))
    _, event = await cluster.failed_scheduling("c-extra")
    assert event["message"].startswith("0/3 nodes are available: 3 Too many pods.")
    await asyncio.sleep(0.5)
    assert scheduler.cache.assumed_count() == 0  # every assumed pod was confirmed by the informer
    assert scheduler.stats.bound == 12


async def test_scheduling_gates_hold_a_pod_back(cluster: Cluster) -> None:
    await cluster.add_node("gate-a")
    scheduler = cluster.start_scheduler()
    await cluster.create(pod_spec("gated", schedulingGates=[{"name": "example.com/wait"}]))
    await cluster.create(pod_spec("free"))
    assert await cluster.node_of("free") == "gate-a"
    assert not (await cluster.get("gated"))["spec"].get("nodeName")
    assert f"{cluster.namespace}/gated" not in scheduler.queue
    # Removing the gates is the way back in.
    await cluster.client.patch(
        PODS, {"spec": {"schedulingGates": None}}, name="gated", namespace=cluster.namespace
    )
    assert await cluster.node_of("gated") == "gate-a"


async def test_preemption_spares_pods_protected_by_a_disruption_budget(cluster: Cluster) -> None:
    pdbs = StaticResource("policy", "v1", "poddisruptionbudgets")
    lowest, low, high = (f"{cluster.namespace}-{suffix}" for suffix in ("lowest", "low", "high"))
    # Without the budget the guarded pod, being the cheapest victim, would be the one to go.
    for name, value in ((lowest, 5), (low, 10), (high, 1000)):
        body = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}}
        await cluster.client.create(PRIORITY_CLASSES, {**body, "value": value})
    try:
        await cluster.add_node("pdb-a", cpu="1")
        await cluster.add_node("pdb-b", cpu="1")
        cluster.start_scheduler()
        await cluster.create(pod_spec("guarded", cpu="800m", labels={"app": "db"}, priorityClassName=lowest))
        await cluster.create(pod_spec("plain", cpu="800m", priorityClassName=low))
        placed = {await cluster.node_of("guarded"), await cluster.node_of("plain")}
        assert placed == {"pdb-a", "pdb-b"}
        budget = await cluster.client.create(
            pdbs,
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "db"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
            },
            namespace=cluster.namespace,
        )
        # No disruption controller runs here: write the status it would compute.
        budget["status"] = {
            "disruptionsAllowed": 0,
            "currentHealthy": 1,
            "desiredHealthy": 1,
            "expectedPods": 1,
            "observedGeneration": budget["metadata"].get("generation", 1),
        }
        await cluster.client.update(pdbs, budget, namespace=cluster.namespace, subresource="status")

        await cluster.create(pod_spec("vip", cpu="800m", priorityClassName=high))
        plain_node = await cluster.node_of("plain")
        assert await cluster.node_of("vip", timeout=20) == plain_node
        assert (await cluster.get("guarded"))["spec"]["nodeName"] != plain_node
        preempted = [e for e in await cluster.events("plain") if e["reason"] == "Preempted"]
        assert preempted
        assert not [e for e in await cluster.events("guarded") if e["reason"] == "Preempted"]
    finally:
        for name in (lowest, low, high):
            await cluster.client.delete(PRIORITY_CLASSES, name=name)
