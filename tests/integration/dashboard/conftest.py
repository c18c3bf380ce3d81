"""Fixtures for the dashboard against a real ``kubeling server``: users with tokens, a hollow node,
and the dashboard app in-process (or as a thread serving HTTP for a browser)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.dashboard.config import DashboardConfig
from kubeling.dashboard.server import Dashboard
from kubeling.kubelet.hollow import HollowNode, HollowNodeConfig
from tests.fixtures.server import KubelingServer, free_port, kubectl

NAMESPACE = "dash"


@dataclass
class Tokens:
    admin: str
    viewer: str


def deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "kubeling/busybox"}]},
            },
        },
    }


@pytest.fixture(scope="module")
def tokens(server: KubelingServer) -> Iterator[Tokens]:
    """The admin's token and a ServiceAccount token bound to the built-in ``view`` role in NAMESPACE."""
    kubectl(server, "create", "namespace", NAMESPACE)
    kubectl(server, "create", "serviceaccount", "viewer", "-n", NAMESPACE)
    kubectl(
        server, "create", "rolebinding", "viewer-view", "-n", NAMESPACE, "--clusterrole=view",
        f"--serviceaccount={NAMESPACE}:viewer",
    )  # fmt: skip
    viewer = kubectl(server, "create", "token", "viewer", "-n", NAMESPACE, "--duration=1h").stdout.strip()
    kubectl(server, "apply", "-f", "-", input=json.dumps(deployment("web", 1)))
    kubectl(server, "create", "configmap", "settings", "-n", NAMESPACE, "--from-literal=color=blue")
    kubectl(server, "create", "secret", "generic", "creds", "-n", NAMESPACE, "--from-literal=password=s3cret")
    try:
        yield Tokens(admin=server.token(), viewer=viewer)
    finally:
        kubectl(server, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


@pytest.fixture
async def hollow_node(server: KubelingServer) -> AsyncIterator[str]:
    """A hollow node that runs pods (statuses only), so Deployments get Running pods."""
    client = RESTClient(load_config(str(server.kubeconfig)), component="dashboard-test")
    node = HollowNode(
        client, HollowNodeConfig(name="dash-node", pod_cidr="10.244.77.0/24", renew_interval=1.0)
    )
    task = asyncio.create_task(node.run())
    try:
        yield "dash-node"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


@pytest.fixture
async def dashboard(server: KubelingServer) -> AsyncIterator[Dashboard]:
    """The dashboard app with the admin kubeconfig as its own identity (used only for metrics)."""
    app = Dashboard(DashboardConfig(metric_resolution=1.0), load_config(str(server.kubeconfig)))
    try:
        yield app
    finally:
        await app.close()


class DashboardThread:
    """The dashboard served over HTTP on 127.0.0.1 from a thread of its own (for a browser to load)."""

    def __init__(self, server: KubelingServer, config: DashboardConfig) -> None:
        self.port = free_port()
        self.config = config
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.app = Dashboard(self.config, load_config(str(self.server.kubeconfig)))
        self.runner = web.AppRunner(self.app.make_app(), shutdown_timeout=1)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.sampler = self.loop.create_task(self.app.sampler.run())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> DashboardThread:
        self._thread.start()
        assert self._ready.wait(15), "dashboard did not start"
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self.sampler.cancel()
            await self.runner.cleanup()
            await self.app.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
