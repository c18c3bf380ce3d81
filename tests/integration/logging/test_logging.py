"""Collector and store in-process against a real API server, over files laid out as Docker writes them.

One ``kubeling server`` for the module.  The addon template's ServiceAccounts
and RBAC are applied with kubectl; the store runs with a TokenRequest token
of ``kube-system/log-store`` and the collector with one of
``kube-system/log-collector``, so the API server's RBAC, the aggregator
(APIService → a Service whose EndpointSlice is this process on 127.0.0.1) and
the store's own TokenReview/SubjectAccessReview all decide as in a cluster.
Pods exist in the API (bound to a node no kubelet runs); their containers'
logs are the files of ``tests/fixtures/dockerlogs.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeling.addons import AddonValues, render
from kubeling.api import errors
from kubeling.client.kubeconfig import ClientConfig, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.logging.collector import Collector
from kubeling.logging.config import CollectorConfig, StoreConfig
from kubeling.logging.shipper import Shipper
from kubeling.logging.storeserver import LogStoreServer
from tests.fixtures.dockerlogs import NodeLogs
from tests.fixtures.server import REPO, KubelingServer, kubectl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NODE = "log-node-a"
PODS = StaticResource("", "v1", "pods")
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)
LOGS = "/apis/logging.kubeling.io/v1alpha1"


def addon() -> list[dict[str, Any]]:
    return render("logging", AddonValues(image="unused", apiserver_url="https://unused"))


@pytest.fixture(scope="module")
def kserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubelingServer]:
    server = KubelingServer(tmp_path_factory.mktemp("logging")).start()
    wanted = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding"}
    docs = [d for d in addon() if d["kind"] in wanted]
    kubectl(server, "apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))
    yield server
    server.stop()


def token_config(server: KubelingServer, account: str, namespace: str = "kube-system") -> ClientConfig:
    token = kubectl(server, "create", "token", account, "-n", namespace).stdout.strip()
    return ClientConfig(server=server.url, ca_file=str(server.data_dir / "pki" / "ca.crt"), token=token)


def registration(port: int) -> list[dict[str, Any]]:
    """The template's APIService and Service, the Service's endpoint being this process on 127.0.0.1."""
    objects = {(d["kind"], d["metadata"]["name"]): d for d in addon()}
    service = objects[("Service", "log-store")]
    service["spec"] = {"ports": [{"name": "https", "port": 443, "targetPort": port}]}  # no selector
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "log-store-test",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "log-store"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    return [service, endpoints, objects[("APIService", "v1alpha1.logging.kubeling.io")]]


class Instrumented(Shipper):
    """A shipper that says when a POST starts and can die right after the store acknowledged."""

    def __init__(self, client: RESTClient) -> None:
        super().__init__(client, backoff_cap=1.0)
        self.posting = asyncio.Event()
        self.die_after_ack = False

    async def ship(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        self.posting.set()
        answer = await super().ship(items)
        self.posting.clear()
        if self.die_after_ack:
            self.die_after_ack = False
            raise asyncio.CancelledError  # the store has the batch; the positions file does not
        return answer


@dataclass
class Env:
    server: KubelingServer
    admin: RESTClient
    collector_client: RESTClient
    node: NodeLogs
    tmp: Path
    namespace: str

    def collector_config(self, **overrides: Any) -> CollectorConfig:
        settings: dict[str, Any] = {
            "node_name": NODE,
            "container_log_dir": str(self.node.link_dir),
            "docker_containers_dir": str(self.node.containers_dir),
            "positions_file": str(self.tmp / "positions" / f"{NODE}.json"),
            "scan_interval": 0.2,
            "poll_interval": 0.05,
            "batch_lines": 25,
        }
        return CollectorConfig(**{**settings, **overrides})

    async def create_pod(self, name: str, labels: dict[str, str]) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
            "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "kubeling/busybox"}]},
        }
        await self.admin.create(PODS, pod, namespace=self.namespace)

    async def stored(self, pod: str) -> list[dict[str, Any]]:
        path = f"{LOGS}/namespaces/{self.namespace}/logs?pod={pod}&limit=10000"
        return list((await self.admin.request("GET", path)).get("items") or [])


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(errors.StatusError, OSError):
            last = await check()
            if last:
                return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s (last: {str(last)[:400]})")


@pytest.fixture
async def env(kserver: KubelingServer, tmp_path: Path) -> AsyncIterator[Env]:
    admin = RESTClient(load_config(str(kserver.kubeconfig)), component="logging-test")
    store_client = RESTClient(token_config(kserver, "log-store"), component="log-store")
    collector_client = RESTClient(token_config(kserver, "log-collector"), component="log-collector")
    config = StoreConfig(
        bind_address="127.0.0.1",
        secure_port=0,
        database=str(tmp_path / "store" / "logs.db"),
        cert_dir=str(tmp_path / "store-certs"),
    )
    store = LogStoreServer(config, store_client)
    namespace = f"logs-{uuid.uuid4().hex[:6]}"
    try:
        port = await store.start()
        docs = registration(port)
        kubectl(kserver, "apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))
        await eventually(lambda: admin.request("GET", LOGS), 60, "the APIService answering")
        await admin.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        yield Env(kserver, admin, collector_client, NodeLogs(tmp_path / "node"), tmp_path, namespace)
    finally:
        with contextlib.suppress(errors.StatusError):
            await admin.delete(NAMESPACES, name=namespace)
        await store.stop()
        for client in (admin, store_client, collector_client):
            await client.close()


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def logs_query(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kubeling.cli", "logs", "query", "--kubeconfig", str(kubeconfig), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO, env=dict(os.environ))


def token_kubeconfig(server: KubelingServer, path: Path, account: str, namespace: str) -> Path:
    kubectl(server, "create", "serviceaccount", account, "-n", namespace)
    config = token_config(server, account, namespace)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": config.server, "certificate-authority": config.ca_file}}
        ],
        "users": [{"name": account, "user": {"token": config.token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(document))
    return path


async def test_a_deleted_pods_numbered_lines_are_all_queryable_by_its_labels(env: Env) -> None:
    await env.create_pod("web", {"app": "web", "tier": "front"})
    collector = Collector(env.collector_config(), env.collector_client)
    task = asyncio.create_task(collector.run())
    try:
        container = env.node.container("web", env.namespace, "app", node=NODE)
        for n in range(1, 101):
            container.write(f"line {n}")
            if n == 50:
                container.rotate()
            if n % 20 == 0:
                await asyncio.sleep(0.1)
        # The collector has found the container (a container gone before it is ever seen is not
        # collected, as with upstream's node agents); from here on it holds the file open.
        await eventually(lambda: _has(env.stored("web"), 1), 60, "the first lines stored")
        await env.admin.delete(PODS, namespace=env.namespace, name="web", grace_period_seconds=0)
        container.write(*(f"line {n}" for n in range(101, 121)))  # written after the pod is gone
        container.remove()  # the engine and the kubelet remove the log and its link
        await eventually(lambda: _has(env.stored("web"), 120), 60, "all 120 lines stored")
    finally:
        await stop(task)
    expected = [f"[pod/web/app] line {n}" for n in range(1, 121)]
    # The store serves from this event loop: the CLI runs in a thread, never blocking it.
    admin = await asyncio.to_thread(
        logs_query, env.server.kubeconfig, "-n", env.namespace, "-l", "app=web", "--since", "10m"
    )
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout.splitlines() == expected
    [first, *_] = await env.stored("web")
    assert first["labels"] == {"app": "web", "tier": "front"} and first["node"] == NODE

    # A namespace viewer (upstream's view role, which the addon's reader role aggregates into) may read
    # this namespace's lines, and nothing outside it; an identity without a role reads nothing.
    viewer = token_kubeconfig(env.server, env.tmp / "viewer.kubeconfig", "viewer", env.namespace)
    kubectl(
        env.server,
        "create",
        "rolebinding",
        "viewer",
        "-n",
        env.namespace,
        "--clusterrole=view",
        f"--serviceaccount={env.namespace}:viewer",
    )
    allowed = await _eventually_cli(viewer, "--pod", "web", "--contains", "line 11")
    assert allowed.stdout.splitlines() == [f"[pod/web/app] line {n}" for n in (11, *range(110, 120))]
    refused = await asyncio.to_thread(logs_query, viewer, "-A")
    assert refused.returncode == 1 and "Forbidden" in refused.stderr, refused.stderr
    nobody = token_kubeconfig(env.server, env.tmp / "nobody.kubeconfig", "nobody", env.namespace)
    refused = await asyncio.to_thread(logs_query, nobody, "--pod", "web")
    assert refused.returncode == 1 and "Forbidden" in refused.stderr and "logs" in refused.stderr


async def _has(items: Awaitable[list[dict[str, Any]]], count: int) -> bool:
    return len(await items) >= count


async def _eventually_cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + 30  # the RoleBinding reaches the authorizer's cache
    while True:
        result = await asyncio.to_thread(logs_query, kubeconfig, *args)
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stderr
            return result
        await asyncio.sleep(0.5)


async def test_killing_the_collector_mid_stream_loses_and_duplicates_nothing(env: Env) -> None:
    total = 600
    await env.create_pod("counter", {"app": "counter"})
    container = env.node.container("counter", env.namespace, "app", node=NODE)
    rng = random.Random(9)

    async def write() -> None:
        n = 0
        while n < total:
            chunk = min(rng.randint(1, 6), total - n)
            container.write(*(f"line {i}" for i in range(n + 1, n + chunk + 1)))
            n += chunk
            if n % 200 < chunk:
                container.rotate()
            await asyncio.sleep(rng.uniform(0.02, 0.06))  # ~7 s in all: the kills land mid-stream

    writer = asyncio.create_task(write())
    kills = {"between batches": 0, "mid-request": 0, "after the store acknowledged": 0}
    try:
        round_number = 0
        while not writer.done():
            shipper = Instrumented(env.collector_client)
            collector = Collector(env.collector_config(), env.collector_client, shipper=shipper)
            task = asyncio.create_task(collector.run())
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            mode = ("between batches", "mid-request", "after the store acknowledged")[round_number % 3]
            round_number += 1
            if writer.done():
                mode = "between batches"
            elif mode == "mid-request":
                await asyncio.wait_for(shipper.posting.wait(), 30)
                await asyncio.sleep(rng.uniform(0.0, 0.02))  # before, during or after the store's write
            elif mode == "after the store acknowledged":
                shipper.die_after_ack = True
                await asyncio.wait_for(_until(task.done), 30)
            await stop(task)
            kills[mode] += 1
        await writer
        collector = Collector(env.collector_config(), env.collector_client)
        task = asyncio.create_task(collector.run())
        try:
            with contextlib.suppress(AssertionError):  # the comparison below says what is missing
                await eventually(lambda: _has(env.stored("counter"), total), 60, f"{total} lines stored")
            await asyncio.sleep(1.0)  # anything more would be a duplicate
        finally:
            await stop(task)
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    stored = [item["log"] for item in await env.stored("counter")]
    expected = [f"line {n}" for n in range(1, total + 1)]
    missing = sorted(set(expected) - set(stored), key=lambda t: int(t.split()[1]))
    assert stored == expected, f"{len(stored)} stored; missing {missing[:20]}"
    assert min(kills.values()) >= 1, kills


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)
