"""Fixtures for the image tests: the real Docker Engine and the kubeling image built from this checkout.

Docker is required, never skipped (hack/test.sh starts dockerd).  The first
build on a machine takes minutes (debootstrap, wheels); afterwards the base is
cached and the kubeling layer is rebuilt only when the sources changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from kubeling.image.build import ensure_kubeling_image, source_root
from tests.fixtures.dockerengine import connect

TEST_LABEL = {"io.kubeling.test": "image"}


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = connect(timeout=600)
    yield client
    client.close()


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the sources, so edits to the working tree cannot make a build stale mid-test."""
    root, copy = source_root(), tmp_path_factory.mktemp("checkout")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(root / "components", copy / "components", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, copy / name)
    return copy


@pytest.fixture(scope="session")
def kubeling_image(docker_client: docker.DockerClient, checkout: Path) -> str:
    """``kubeling/kubeling:<version>`` of the checkout (built now if missing or stale)."""
    return ensure_kubeling_image(client=docker_client, root=checkout)


def run_in(client: docker.DockerClient, image: str, command: list[str], **env: str) -> tuple[int, str]:
    """Run ``command`` in a throwaway container without a network: (exit code, stdout + stderr)."""
    container = client.containers.run(
        image, command, detach=True, network_mode="none", environment=env, labels=TEST_LABEL
    )
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)
