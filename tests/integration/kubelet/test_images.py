"""The locally built images on the real engine: idempotent builds, a pause that stops cleanly."""

from __future__ import annotations

import time

import docker
import pytest

from kubeling.kubelet import images as kimages

pytestmark = pytest.mark.integration


def test_ensure_images_is_idempotent(docker_client: docker.DockerClient, images: dict[str, str]) -> None:
    assert kimages.ensure_images(docker_client) == []
    label = docker_client.images.get(images["pause"]).labels[kimages.RECIPE_LABEL]
    assert len(label) == 64


def test_busybox_has_the_tools(docker_client: docker.DockerClient, images: dict[str, str]) -> None:
    out = docker_client.containers.run(
        images["busybox"],
        ["sh", "-c", "id nobody && ls -ld /tmp && which httpd wget nslookup sleep"],
        remove=True,
        network_mode="none",
        labels={"kubeling.test": "images"},
    ).decode()
    assert "uid=65534(nobody)" in out and "drwxrwxrwt" in out and "/usr/sbin/httpd" in out


def test_pause_exits_zero_on_sigterm_at_once(
    docker_client: docker.DockerClient, images: dict[str, str]
) -> None:
    container = docker_client.containers.run(
        images["pause"], detach=True, network_mode="none", labels={"kubeling.test": "images"}
    )
    try:
        time.sleep(0.3)
        started = time.monotonic()
        container.stop(timeout=10)
        assert time.monotonic() - started < 5
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0
    finally:
        container.remove(force=True)


def test_pause_reaps_orphans(docker_client: docker.DockerClient, images: dict[str, str]) -> None:
    container = docker_client.containers.run(
        images["pause"], detach=True, network_mode="none", labels={"kubeling.test": "images"}
    )
    try:
        time.sleep(0.3)
        for _ in range(3):  # each leaves an orphan that PID 1 inherits and must reap when it exits
            container.exec_run(["sh", "-c", "(sleep 0.2 &); exit"])
        time.sleep(1)
        out = container.exec_run(["ps", "-o", "stat,args"]).output.decode()
        assert not [line for line in out.splitlines()[1:] if line.strip().startswith("Z")], out
        assert "sleep 0.2" not in out
    finally:
        container.remove(force=True)
