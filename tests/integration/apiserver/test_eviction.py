"""The eviction API's rules against a real server, with budget status written directly
(as the disruption controller would): who may skip the budget, who spends it, and the
DisruptionTarget condition every evicted pod gets."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import NAMESPACES, PODDISRUPTIONBUDGETS, PODS
from tests.fixtures.controllers import admin_client
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


@pytest.fixture
async def api(bare_server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str]]:
    client = admin_client(bare_server)
    namespace = f"evict-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        yield client, namespace
    finally:
        with contextlib.suppress(StatusError):
            await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def make_pod(client: RESTClient, namespace: str, *, phase: str, ready: bool) -> str:
    name = f"p-{uuid.uuid4().hex[:6]}"
    spec = {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "n1"}
    pod = await client.create(
        PODS, {"metadata": {"name": name, "labels": {"app": "a"}}, "spec": spec}, namespace=namespace
    )
    flag = "True" if ready else "False"
    pod["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": flag}]}
    await client.update(PODS, pod, namespace=namespace, subresource="status")
    return name


async def make_budget(
    client: RESTClient, namespace: str, *, allowed: int, healthy: int, desired: int, policy: str | None = None
) -> None:
    spec: Obj = {"selector": {"matchLabels": {"app": "a"}}, "minAvailable": desired}
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    pdb = await client.create(
        PODDISRUPTIONBUDGETS, {"metadata": {"name": "pdb"}, "spec": spec}, namespace=namespace
    )
    pdb["status"] = {
        "observedGeneration": pdb["metadata"]["generation"],
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": 3,
    }
    await client.update(PODDISRUPTIONBUDGETS, pdb, namespace=namespace, subresource="status")


async def evict(client: RESTClient, namespace: str, name: str) -> tuple[int, Obj]:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
    try:
        answer = await client.create(PODS, body, name=name, namespace=namespace, subresource="eviction")
    except StatusError as exc:
        return exc.code, exc.status()
    return int(answer.get("code") or 201), answer


# (id, pod phase, pod ready, budget allowed/healthy/desired, policy, expected code, budget spent)
CASES = [
    ("ready-spends-budget", "Running", True, (1, 3, 2), None, 201, True),
    ("ready-no-budget-left", "Running", True, (0, 2, 2), None, 429, False),
    ("unready-healthy-app-skips-budget", "Running", False, (0, 2, 2), None, 201, False),
    ("unready-explicit-if-healthy-budget", "Running", False, (0, 2, 2), "IfHealthyBudget", 201, False),
    ("unready-disrupted-app-refused", "Running", False, (0, 1, 2), None, 429, False),
    ("unready-disrupted-app-always-allow", "Running", False, (0, 1, 2), "AlwaysAllow", 201, False),
    ("unready-nothing-desired-needs-budget", "Running", False, (0, 0, 0), None, 429, False),
    ("unready-with-budget-left-skips-it", "Running", False, (1, 2, 2), None, 201, False),
    ("pending-ignores-budget", "Pending", False, (0, 0, 2), None, 201, False),
    ("failed-ignores-budget", "Failed", False, (0, 0, 2), None, 201, False),
]


@pytest.mark.parametrize(
    ("phase", "ready", "numbers", "policy", "code", "spent"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_eviction_rules(api, phase, ready, numbers, policy, code, spent) -> None:
    client, namespace = api
    allowed, healthy, desired = numbers
    name = await make_pod(client, namespace, phase=phase, ready=ready)
    await make_budget(client, namespace, allowed=allowed, healthy=healthy, desired=desired, policy=policy)

    got, answer = await evict(client, namespace, name)
    assert got == code, answer

    budget = (await client.get(PODDISRUPTIONBUDGETS, name="pdb", namespace=namespace))["status"]
    assert budget["disruptionsAllowed"] == (allowed - 1 if spent else allowed)
    assert (name in (budget.get("disruptedPods") or {})) == spent
    if code == 429:
        assert answer["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
        pod = await client.get(PODS, name=name, namespace=namespace)
        assert not pod["metadata"].get("deletionTimestamp")
        assert not [c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget"]
        return
    try:
        pod = await client.get(PODS, name=name, namespace=namespace)
    except StatusError as exc:
        assert exc.code == 404 and phase != "Running"  # nothing runs it: gone at once
        return
    assert pod["metadata"].get("deletionTimestamp")  # a running pod terminates gracefully
    (target,) = [c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert (target["status"], target["reason"], target["message"]) == (
        "True",
        "EvictionByEvictionAPI",
        "Eviction API: evicting",
    )


async def test_refusal_says_what_the_budget_needs(api) -> None:
    client, namespace = api
    name = await make_pod(client, namespace, phase="Running", ready=True)
    await make_budget(client, namespace, allowed=0, healthy=2, desired=3)
    code, answer = await evict(client, namespace, name)
    assert code == 429
    assert answer["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget pdb needs 3 healthy pods and has 2 currently",
        }
    ]


async def test_spending_the_last_disruption_flips_the_condition(api) -> None:
    client, namespace = api
    name = await make_pod(client, namespace, phase="Running", ready=True)
    await make_budget(client, namespace, allowed=1, healthy=3, desired=2)
    assert (await evict(client, namespace, name))[0] == 201
    status = (await client.get(PODDISRUPTIONBUDGETS, name="pdb", namespace=namespace))["status"]
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "DisruptionAllowed",
        "False",
        "InsufficientPods",
    )
