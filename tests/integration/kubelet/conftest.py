"""Fixtures for the kubelet's Docker-backed tests: the local images, and a DockerRuntime on a test network.

Docker is required, never skipped: CI (hack/test.sh) starts dockerd.  A missing
daemon fails the fixture with a clear message.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from kubeling.kubelet import images as kimages


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        pytest.fail(f"dockerd is not reachable ({exc}); run `source hack/lib.sh && ensure_docker`")
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client: docker.DockerClient) -> dict[str, str]:
    """The kubeling images exist on the local engine: {"pause": ref, "busybox": ref}."""
    kimages.ensure_images(docker_client)
    return {"pause": kimages.PAUSE_IMAGE, "busybox": kimages.BUSYBOX_IMAGE}
