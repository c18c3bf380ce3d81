"""``kubeling lab up --kind nodes`` end to end: systemd nodes, the inventory, install.py over SSH, kubectl.

One control plane and two workers, installed by ``deploys/install.py`` exactly
as the command runs it; the admin kubeconfig it writes next to the inventory
shows three Ready nodes.  ``lab down`` then leaves no container, volume,
network, inventory, kubeconfig or PKI of the lab.  Slow (an install), hence e2e.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubeling.lab import inventory
from kubeling.lab.nodes import leftovers
from kubeling.lab.nodescli import INSTALL_DEPLOY, admin_kubeconfig, checkout_root
from tests.integration.lab.conftest import node_image, session_lab_name

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
__all__ = ["node_image"]


def lab(lab_dir: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBELING_LAB_DIR": str(lab_dir)}
    argv = [sys.executable, "-m", "kubeling.cli", "lab", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def ready_nodes(kubeconfig: Path) -> set[str]:
    kubectl = str(Path(sys.executable).with_name("kubectl"))
    result = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode:
        return set()
    return {
        node["metadata"]["name"]
        for node in json.loads(result.stdout)["items"]
        if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
    }


def test_lab_up_installs_a_cluster_with_three_ready_nodes(node_image: str, tmp_path: Path) -> None:
    root = checkout_root()
    if not (root / INSTALL_DEPLOY).is_file():
        pytest.skip(f"{INSTALL_DEPLOY} is not in this checkout yet")
    name = session_lab_name("e")
    path = inventory.default_path(root, name)
    kubeconfig = admin_kubeconfig(path)
    try:
        started = time.monotonic()
        up = lab(tmp_path, "up", "--kind", "nodes", "--name", name, "--control-planes", "1", "--nodes", "2")
        print(up.stdout[-3000:], up.stderr[-3000:], sep="\n")
        assert up.returncode == 0, up.stderr[-3000:]
        print(f"lab up with install: {time.monotonic() - started:.1f} s")
        assert f"export KUBECONFIG={kubeconfig}" in up.stdout
        wanted = {f"{name}-cp-1", f"{name}-worker-1", f"{name}-worker-2"}
        deadline = time.monotonic() + 180
        while ready_nodes(kubeconfig) != wanted and time.monotonic() < deadline:
            time.sleep(2)
        assert ready_nodes(kubeconfig) == wanted
    finally:
        down = lab(tmp_path, "down", "--name", name, timeout=300)
    assert down.returncode == 0, down.stderr
    assert leftovers(name) == {"containers": [], "volumes": [], "networks": []}
    assert not path.exists() and not kubeconfig.exists() and not (root / "certs" / name).exists()
