"""``kubeling upgrade plan`` against a real apiserver: its /version asked at the endpoint the
kube-apiserver mirror pod advertises, kubelets' versions from their Nodes, the table and exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kubeling
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

KUBELING = [sys.executable, "-m", "kubeling.cli"]


def _send(server: KubelingServer, method: str, path: str, body: dict, kind: str = "application/json") -> int:
    status, answer = server.request(method, path, json.dumps(body).encode(), {"Content-Type": kind})
    assert status in (200, 201), answer
    return status


def _create(server: KubelingServer, path: str, body: dict) -> None:
    _send(server, "POST", path, body)


@pytest.fixture
def control_plane(server: KubelingServer) -> Iterator[str]:
    """A kube-apiserver mirror pod pointing at the test server, and a Node whose kubelet reports 0.1.0."""
    node = f"upg-{uuid.uuid4().hex[:6]}"
    _create(
        server,
        "/api/v1/namespaces/kube-system/pods",
        {
            "metadata": {
                "name": f"kube-apiserver-{node}",
                "labels": {"component": "kube-apiserver", "upgrade-test": node},
                "annotations": {
                    "kubeling.io/kube-apiserver.advertise-address.endpoint": f"127.0.0.1:{server.port}"
                },
            },
            "spec": {
                "nodeName": node,
                "containers": [{"name": "a", "image": f"kubeling/kubeling:{kubeling.__version__}"}],
            },
        },
    )
    _create(server, "/api/v1/nodes", {"metadata": {"name": node}})
    status = {"status": {"nodeInfo": {"kubeletVersion": f"v1.37.0-kubeling.{kubeling.__version__}"}}}
    _send(server, "PATCH", f"/api/v1/nodes/{node}/status", status, "application/merge-patch+json")
    yield node
    server.request("DELETE", f"/api/v1/namespaces/kube-system/pods/kube-apiserver-{node}")
    server.request("DELETE", f"/api/v1/nodes/{node}")


def _plan(server: KubelingServer, target: str) -> subprocess.CompletedProcess[str]:
    argv = [*KUBELING, "upgrade", "plan", "--kubeconfig", str(server.kubeconfig), "--to", target]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_plan_reads_versions_from_the_cluster(server: KubelingServer, control_plane: str) -> None:
    from kubeling.client.kubeconfig import load_config
    from kubeling.upgrade.plan import gather

    found = asyncio.run(gather(load_config(server.kubeconfig)))
    mine = {(c.kind, c.version) for c in found if c.node == control_plane}
    assert mine == {("kube-apiserver", kubeling.__version__), ("kubelet", kubeling.__version__)}


def test_plan_exit_codes(server: KubelingServer, control_plane: str) -> None:
    major, minor, _ = (int(p) for p in kubeling.__version__.split(".")[:3])
    skipped = _plan(server, f"{major}.{minor + 2}.0")
    assert skipped.returncode == 1 and "skips a minor version" in skipped.stdout, skipped.stdout
    line = next(
        line
        for line in skipped.stdout.splitlines()
        if line.startswith("kube-apiserver") and control_plane in line
    )
    assert line.split()[2:4] == [kubeling.__version__, f"{major}.{minor + 2}.0"]


def test_plan_without_a_cluster_is_a_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "k"
    kubeconfig.write_text(
        json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []})
    )
    done = subprocess.run([*KUBELING, "upgrade", "plan", "--kubeconfig", str(kubeconfig), "--to", "0.2.0"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("kubeling upgrade plan: error:"), done.stderr
    assert "Traceback" not in done.stderr
