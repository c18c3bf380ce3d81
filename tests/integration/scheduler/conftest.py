"""A private server (no scheduler, no controllers) per module, and a per-test cluster of hollow nodes.

Node counts appear in scheduling messages ("0/3 nodes are available"), so
every test starts from no nodes: the ``cluster`` fixture removes the pods and
nodes it made when the test ends.  The scheduler under test runs in the
test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubeling.api import errors
from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet.hollow import NODES, PODS, HollowNode, HollowNodeConfig
from kubeling.scheduler.app import SchedulerConfig, run
from kubeling.scheduler.scheduler import Scheduler
from tests.fixtures.server import KubelingServer

T = TypeVar("T")
Obj = dict[str, Any]
_ips = itertools.count(1)


@pytest.fixture(scope="module")
def sched_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubelingServer]:
    instance = KubelingServer(
        tmp_path_factory.mktemp("kubeling-scheduler"),
        extra_args=["--disable-controller-manager", "--disable-scheduler"],
    ).start()
    yield instance
    instance.stop()


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 15.0, what: str = "condition") -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"{what} not met within {timeout}s"
        await asyncio.sleep(0.1)


def pod_spec(
    name: str,
    *,
    cpu: str = "100m",
    memory: str = "64Mi",
    labels: dict[str, str] | None = None,
    host_port: int = 0,
    **spec: Any,
) -> Obj:
    container: Obj = {
        "name": "c",
        "image": "busybox",
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [container], **spec},
    }


class Cluster:
    def __init__(self, server: KubelingServer, namespace: str) -> None:
        self.server = server
        self.client = RESTClient(load_config(str(server.kubeconfig)), component="scheduler-test", qps=0)
        self.namespace = namespace
        self.nodes: dict[str, tuple[HollowNode, asyncio.Task[None]]] = {}
        self.schedulers: list[asyncio.Task[None]] = []

    async def setup(self) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        with contextlib.suppress(errors.StatusError):
            await self.client.request("POST", "/api/v1/namespaces", body=body)

    async def add_node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "16Gi",
        labels: dict[str, str] | None = None,
        taints: list[Obj] | None = None,
        max_pods: int = 110,
    ) -> None:
        n = next(_ips)
        config = HollowNodeConfig(
            name=name,
            cpu=cpu,
            memory=memory,
            labels=labels or {},
            max_pods=max_pods,
            pod_cidr=f"10.{200 + n // 256}.{n % 256}.0/24",
            node_ip=f"10.9.{n // 256}.{n % 256}",
        )
        node = HollowNode(self.client, config)
        await node.register()
        # Exactly the test's taints: this also lifts the not-ready taint that admission puts on new
        # Nodes, which the (disabled) node-lifecycle controller would lift once the node is Ready.
        await self.client.patch(NODES, {"spec": {"taints": taints or None}}, name=name)
        self.nodes[name] = (node, asyncio.create_task(node.run()))

    def start_scheduler(self, **overrides: Any) -> Scheduler:
        config = SchedulerConfig(leader_elect=False, **overrides)
        scheduler = Scheduler(self.client)
        self.schedulers.append(asyncio.create_task(run(config, self.client, scheduler=scheduler)))
        return scheduler

    async def create(self, pod: Obj) -> Obj:
        return await self.client.create(PODS, pod, namespace=self.namespace)

    async def get(self, name: str) -> Obj:
        return await self.client.get(PODS, namespace=self.namespace, name=name)

    async def node_of(self, name: str, timeout: float = 15.0) -> str:
        async def bound() -> str:
            return (await self.get(name)).get("spec", {}).get("nodeName", "")

        return await eventually(bound, timeout, f"pod {name} bound")

    async def failed_scheduling(self, name: str, timeout: float = 15.0) -> tuple[Obj, Obj]:
        """The pod's PodScheduled condition and its FailedScheduling event, once both are written."""

        async def both() -> tuple[Obj, Obj] | None:
            pod = await self.get(name)
            condition = next(
                (c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"), None
            )
            events = [e for e in await self.events(name) if e["reason"] == "FailedScheduling"]
            return (condition, events[-1]) if condition and events else None

        return await eventually(both, timeout, f"FailedScheduling for {name}")

    async def events(self, name: str) -> list[Obj]:
        listed = await self.client.request(
            "GET",
            f"/api/v1/namespaces/{self.namespace}/events?fieldSelector=involvedObject.name%3D{name}",
        )
        return listed.get("items", [])

    async def close(self) -> None:
        for task in self.schedulers:
            task.cancel()
        await asyncio.gather(*self.schedulers, return_exceptions=True)
        for node, task in self.nodes.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await node.stop()
        pods = await self.client.list(PODS, namespace=self.namespace)
        for pod in pods.get("items", []):
            with contextlib.suppress(errors.StatusError):
                await self.client.delete(
                    PODS, namespace=self.namespace, name=pod["metadata"]["name"], grace_period_seconds=0
                )
        for name in self.nodes:
            with contextlib.suppress(errors.StatusError):
                await self.client.delete(NODES, name=name)
        await self.client.close()


_namespaces = itertools.count()


@pytest.fixture
async def cluster(sched_server: KubelingServer, request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"sched-{slug}-{next(_namespaces)}"
    instance = Cluster(sched_server, name)
    await instance.setup()
    try:
        yield instance
    finally:
        await instance.close()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]
