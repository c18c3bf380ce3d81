"""Fixtures for the kubelet's Docker-backed tests: the local images, and a DockerRuntime on a test network.

Docker is required, never skipped: CI (hack/test.sh) starts dockerd.  A missing
daemon fails the fixture with a clear message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from kubeling.kubelet import images as kimages
from kubeling.kubelet.cni import CNINetwork
from kubeling.kubelet.docker import DockerRuntime
from tests.fixtures.dockerengine import connect


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = connect(timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client: docker.DockerClient) -> dict[str, str]:
    """The kubeling images exist on the local engine: {"pause": ref, "busybox": ref}."""
    kimages.ensure_images(docker_client)
    return {"pause": kimages.PAUSE_IMAGE, "busybox": kimages.BUSYBOX_IMAGE}


def _free_pod_cidr() -> str:
    """A 10.244.X.0/24 (X in 200..254) no bridge on this machine routes yet: parallel sessions keep apart."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    for x in range(250, 200, -1):
        if f"10.244.{x}." not in routes:
            return f"10.244.{x}.0/24"
    pytest.fail("no free 10.244.x.0/24 for a test pod network")


@dataclass
class PodNetwork:
    pod_cidr: str
    bridge: str
    name: str
    conf_dir: Path
    cache_dir: Path
    ipam_dir: Path

    def cni(self) -> CNINetwork:
        return CNINetwork(
            str(self.conf_dir),
            "/usr/lib/cni",
            str(self.cache_dir),
            network_name=self.name,
            bridge=self.bridge,
            ipam_data_dir=str(self.ipam_dir),
        )

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))


@pytest.fixture(scope="session")
def test_network(tmp_path_factory: pytest.TempPathFactory, images: dict[str, str]) -> Iterator[PodNetwork]:
    """A CNI network of its own for the session: a bridge named for it on a free podCIDR, torn down after."""
    root = tmp_path_factory.mktemp("cni")
    tag = f"{os.getpid() % 100000}"
    net = PodNetwork(
        pod_cidr=_free_pod_cidr(),
        bridge=f"kbt{tag}",
        name=f"kubeling-test-{tag}",
        conf_dir=root / "net.d",
        cache_dir=root / "cache",
        ipam_dir=root / "ipam",
    )
    cni = net.cni()
    cni.configure(net.pod_cidr)
    yield net

    async def teardown() -> None:
        # Only what is this network's: other sessions' pods may be using the host-wide chains.
        await cni.garbage_collect(set())
        await cni.teardown(net.bridge)

    asyncio.run(teardown())


@pytest.fixture
async def docker_runtime(test_network: PodNetwork, tmp_path: Path) -> AsyncIterator[DockerRuntime]:
    """A DockerRuntime on the session's test network; everything it made is removed after the test."""
    label = {"io.kubeling.test": uuid.uuid4().hex[:12]}
    runtime = DockerRuntime(test_network.cni(), root_dir=str(tmp_path / "kubelet"), labels=label)
    yield runtime
    try:
        for sandbox in await runtime.list_sandboxes():
            await runtime.stop_sandbox(sandbox.id)
            await runtime.remove_sandbox(sandbox.id)
    finally:  # whatever went wrong above, no container of the test outlives it
        await _remove_labelled(runtime, label)
        runtime.close()


async def _remove_labelled(runtime: DockerRuntime, label: dict[str, str]) -> None:
    leftovers = await asyncio.to_thread(
        runtime.api.containers, all=True, filters={"label": [f"{k}={v}" for k, v in label.items()]}
    )
    for c in leftovers:
        try:
            await asyncio.to_thread(runtime.api.remove_container, c["Id"], force=True)
        except docker.errors.NotFound:
            pass  # a stopping kubelet's last removal got there first
