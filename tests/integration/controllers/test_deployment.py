"""The Deployment controller (with the ReplicaSet controller) against a real server, driven by real kubectl.

Pods are pinned with ``spec.nodeName`` (these tests run no scheduler) to
hollow nodes, which report them Running and Ready at once; ``minReadySeconds``
makes each rollout step take a moment, so the sampler can see the steps.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import DEPLOYMENTS, EVENTS, NAMESPACES, NODES, PODS, REPLICASETS
from tests.fixtures.controllers import admin_client, controllers_running, eventually, hollow_nodes
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
CONTROLLERS = ["deployment-controller", "replicaset-controller"]


@dataclass
class Env:
    server: KubelingServer
    client: RESTClient
    namespace: str
    node: str

    async def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> Any:
        # kubectl blocks: run it off the loop the controllers share with the test.
        return await asyncio.to_thread(
            kubectl, self.server, *args, "-n", self.namespace, check=check, input=input
        )

    async def apply(self, manifest: Obj) -> None:
        await self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    async def deployment(self, name: str) -> Obj:
        return await self.client.get(DEPLOYMENTS, name=name, namespace=self.namespace)

    async def replicasets(self, app: str) -> list[Obj]:
        items = await self.client.list(REPLICASETS, namespace=self.namespace, label_selector=f"app={app}")
        return items["items"]

    async def live_pods(self, app: str) -> list[Obj]:
        items = await self.client.list(PODS, namespace=self.namespace, label_selector=f"app={app}")
        return [p for p in items["items"] if not p["metadata"].get("deletionTimestamp")]

    async def available(self, name: str, replicas: int) -> bool:
        d = await self.deployment(name)
        status = d.get("status") or {}
        return (
            status.get("observedGeneration") == d["metadata"]["generation"]
            and status.get("replicas") == replicas
            and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and len(await self.live_pods(name)) == replicas
        )


@pytest.fixture
async def env(bare_server: KubelingServer) -> AsyncIterator[Env]:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    namespace = f"deploy-{suffix}"
    nodes = [f"deploy-node-{suffix}-{i}" for i in range(3)]
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with (
            hollow_nodes(bare_server, nodes, subnet=120),
            controllers_running(bare_server, CONTROLLERS),
        ):
            yield Env(bare_server, client, namespace, nodes[0])
    finally:
        for name, resource in [(namespace, NAMESPACES), *((n, NODES) for n in nodes)]:
            try:
                await client.delete(resource, name=name)
            except StatusError:
                pass
        await client.close()


def deployment(name: str, replicas: int, node: str, image: str = "busybox:1.36", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": image}]},
            },
            **spec,
        },
    }


class ReadySampler:
    """Counts ready, not-terminating pods of an app every 50 ms while a rollout runs."""

    def __init__(self, env: Env, app: str) -> None:
        self.env, self.app = env, app
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            pods = await self.env.live_pods(self.app)
            ready = 0
            for pod in pods:
                conditions = {
                    c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []
                }
                ready += conditions.get("Ready") == "True"
            self.samples.append(ready)
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> ReadySampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def image_of(obj: Obj) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def revision_of(obj: Obj) -> str:
    return obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]


async def test_scale_rollout_history_and_undo(env: Env) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}
    await env.apply(deployment("web", 5, env.node, strategy=strategy, minReadySeconds=1))
    await eventually(lambda: env.available("web", 5), timeout=30)
    d = await env.deployment("web")
    assert revision_of(d) == "1"
    conditions = {c["type"]: (c["status"], c["reason"]) for c in d["status"]["conditions"]}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    [rs] = await env.replicasets("web")
    hash_ = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{hash_}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hash_}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "6"

    async def scaling_event(message: str) -> bool:
        events = (await env.client.list(EVENTS, namespace=env.namespace))["items"]
        return any(e["reason"] == "ScalingReplicaSet" and e["message"] == message for e in events)

    await eventually(lambda: scaling_event(f"Scaled up replica set {rs['metadata']['name']} from 0 to 5"))

    await env.kubectl("scale", "deployment", "web", "--replicas=7")
    await eventually(lambda: env.available("web", 7), timeout=30)
    await env.kubectl("scale", "deployment", "web", "--replicas=5")
    await eventually(lambda: env.available("web", 5), timeout=30)

    async with ReadySampler(env, "web") as sampler:
        await env.kubectl("set", "image", "deployment/web", "main=busybox:1.37")
        status = await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in status.stdout
    assert sampler.samples and min(sampler.samples) >= 4, sampler.samples  # replicas - maxUnavailable
    assert max(sampler.samples) <= 6  # replicas + maxSurge
    by_revision = {
        revision_of(rs): (image_of(rs), rs["spec"]["replicas"]) for rs in await env.replicasets("web")
    }
    assert by_revision == {"1": ("busybox:1.36", 0), "2": ("busybox:1.37", 5)}

    history = (await env.kubectl("rollout", "history", "deployment/web")).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    detail = (await env.kubectl("rollout", "history", "deployment/web", "--revision=1")).stdout
    assert "busybox:1.36" in detail

    # kubectl undoes client-side: it patches the template (and annotations) back from revision 1's ReplicaSet.
    await env.kubectl("rollout", "undo", "deployment/web")
    await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    d = await env.deployment("web")
    assert image_of(d) == "busybox:1.36" and revision_of(d) == "3"
    assert {p["spec"]["containers"][0]["image"] for p in await env.live_pods("web")} == {"busybox:1.36"}
    revived = next(rs for rs in await env.replicasets("web") if image_of(rs) == "busybox:1.36")
    assert revision_of(revived) == "3"
    assert revived["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    history = (await env.kubectl("rollout", "history", "deployment/web")).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


async def test_pause_resume_and_restart(env: Env) -> None:
    await env.apply(deployment("app", 2, env.node))
    await eventually(lambda: env.available("app", 2), timeout=30)
    await env.kubectl("rollout", "pause", "deployment/app")

    async def progressing_reason() -> str:
        d = await env.deployment("app")
        cond = next((c for c in d["status"].get("conditions") or [] if c["type"] == "Progressing"), {})
        return cond.get("reason", "")

    await eventually(lambda: _equals(progressing_reason(), "DeploymentPaused"))
    await env.kubectl("set", "image", "deployment/app", "main=busybox:1.37")
    # Paused: the observed generation moves on, but no new ReplicaSet appears.
    d = await env.deployment("app")
    generation = d["metadata"]["generation"]

    async def observed() -> bool:
        return (await env.deployment("app"))["status"].get("observedGeneration") == generation

    await eventually(observed)
    assert len(await env.replicasets("app")) == 1
    await env.kubectl("rollout", "resume", "deployment/app")
    await env.kubectl("rollout", "status", "deployment/app", "--timeout=60s")
    assert {image_of(rs) for rs in await env.replicasets("app")} == {"busybox:1.36", "busybox:1.37"}

    await env.kubectl("rollout", "restart", "deployment/app")
    await env.kubectl("rollout", "status", "deployment/app", "--timeout=60s")
    d = await env.deployment("app")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert revision_of(d) == "3"
    assert len(await env.replicasets("app")) == 3
    pods = await env.live_pods("app")
    assert len(pods) == 2
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in pods)


async def test_recreate_history_limit_and_progress_deadline(env: Env) -> None:
    await env.apply(deployment("batch", 2, env.node, strategy={"type": "Recreate"}, revisionHistoryLimit=1))
    await eventually(lambda: env.available("batch", 2), timeout=30)
    for image in ("busybox:1.37", "busybox:1.38"):
        await env.kubectl("set", "image", "deployment/batch", f"main={image}")
        await env.kubectl("rollout", "status", "deployment/batch", "--timeout=60s")

    # One old ReplicaSet kept (the limit), the oldest deleted once the rollout completed.
    async def history_pruned() -> bool:
        return sorted(revision_of(rs) for rs in await env.replicasets("batch")) == ["2", "3"]

    await eventually(history_pruned, timeout=30)

    # Pods that can never run (their node does not exist): the rollout times out.
    stuck = deployment("stuck", 1, "no-such-node", progressDeadlineSeconds=2)
    await env.apply(stuck)

    async def timed_out() -> Obj | None:
        d = await env.deployment("stuck")
        for cond in (d.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Progressing" and cond["reason"] == "ProgressDeadlineExceeded":
                return cond
        return None

    cond = await eventually(timed_out, timeout=30)
    assert cond["status"] == "False" and cond["message"].endswith("has timed out progressing.")
    answer = await env.kubectl("rollout", "status", "deployment/stuck", "--timeout=10s", check=False)
    assert answer.returncode != 0 and "exceeded its progress deadline" in answer.stderr


async def _equals(value: Any, expected: Any) -> bool:
    return (await value) == expected
