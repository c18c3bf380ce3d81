"""Fixtures for the nodes-lab tests: the real engine, the node image and one small lab of two nodes.

The node image is built when missing (debootstrap: minutes, once per
machine); afterwards a lab of two nodes boots in seconds.  Every lab a test
makes carries a name of this session's own and is removed in a ``finally``,
failures included.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import docker
import pytest

from kubeling.lab.nodeimage import ensure_node_image
from kubeling.lab.nodes import BootTimes, NodesLab, NodesLabSpec, free_lab_subnet


def session_lab_name(suffix: str) -> str:
    """A lab name no other test session uses (letters and digits, at most 10)."""
    return f"t{os.getpid() % 100000}{suffix}"[:10]


@pytest.fixture(scope="session")
def node_image() -> str:
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        pytest.fail(f"dockerd is not reachable ({exc}); run `source hack/lib.sh && ensure_docker`")
    try:
        return ensure_node_image(client=client).ref
    finally:
        client.close()


class BootedLab(NodesLab):
    boot_times: dict[str, BootTimes]


@pytest.fixture(scope="module")
def nodes_lab(node_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BootedLab]:
    """One control plane and one worker, booted, with SSH answering."""
    spec = NodesLabSpec(
        name=session_lab_name("n"),
        directory=tmp_path_factory.mktemp("nodes-lab"),
        control_planes=1,
        workers=1,
        subnet=free_lab_subnet(),
        image=node_image,
    )
    lab = BootedLab(spec)
    try:
        lab.boot_times = lab.up()
        yield lab
    finally:
        lab.down()


def ssh(lab: NodesLab, node_name: str, command: str, *, stdin: bytes | None = None) -> str:
    """Run ``command`` as root on the node over SSH with the lab key; its stdout (fails on an error)."""
    argv = [*lab.ssh_argv(lab.node(node_name)), command]
    result = subprocess.run(argv, input=stdin, capture_output=True, timeout=120)
    assert result.returncode == 0, f"{command}: {result.stderr.decode()}"
    return result.stdout.decode()
