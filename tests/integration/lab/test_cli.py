"""``kubeling lab up --kind nodes --no-install``, ``ssh``, ``status`` and ``down`` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeling.lab.nodes import NodesLab, leftovers
from tests.integration.lab.conftest import session_lab_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def kubeling(lab_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBELING_LAB_DIR": str(lab_dir)}
    return subprocess.run(
        [sys.executable, "-m", "kubeling.cli", "lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_up_ssh_status_down_leaves_nothing(node_image: str, tmp_path: Path) -> None:
    name = session_lab_name("c")
    inventory = tmp_path / "inventories" / "lab.py"
    common = ["--name", name]
    generated: list[Path] = []
    try:
        up = kubeling(
            tmp_path,
            "up",
            "--kind",
            "nodes",
            "--nodes",
            "1",
            "--no-install",
            "--inventory",
            str(inventory),
            *common,
        )
        assert up.returncode == 0, up.stderr
        assert "install skipped (--no-install)" in up.stdout
        assert inventory.is_file() and f"{name}-worker-1" in inventory.read_text()
        # What an install would write on this machine (admin kubeconfig, PKI) goes with the lab.
        generated = NodesLab.load(tmp_path / name).generated
        assert inventory.with_suffix(".kubeconfig") in generated
        for path in generated:
            if path.suffix:
                path.write_text("made by install.py\n")
            else:
                path.mkdir(parents=True)
                (path / "ca.crt").write_text("made by install.py\n")

        again = kubeling(tmp_path, "up", "--kind", "nodes", *common)
        assert again.returncode == 1 and f"lab {name} exists" in again.stderr

        hostname = kubeling(tmp_path, "ssh", *common, "worker-1", "hostname")
        assert (hostname.returncode, hostname.stdout.strip()) == (0, f"{name}-worker-1")
        failing = kubeling(tmp_path, "ssh", *common, "worker-1", "exit 3")
        assert failing.returncode == 3  # the remote command's exit code comes back
        unknown = kubeling(tmp_path, "ssh", *common, "worker-9")
        assert unknown.returncode == 1 and "has no node 'worker-9'" in unknown.stderr

        status = kubeling(tmp_path, "status", *common)
        assert status.returncode == 0, status.stdout + status.stderr
        rows = [line.split() for line in status.stdout.splitlines() if line.startswith(name)]
        assert [row[3:] for row in rows] == [["running", "running"]] * 2
    finally:
        down = kubeling(tmp_path, "down", *common)
    assert down.returncode == 0, down.stderr
    assert leftovers(name) == {"containers": [], "volumes": [], "networks": []}
    assert not inventory.exists()
    assert not [path for path in generated if path.exists()]
    assert not (tmp_path / name).exists()


def test_bad_input_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = kubeling(tmp_path, "up", "--kind", "nodes", "--name", "bad-name", "--no-install")
    assert result.returncode == 2 and "letters and digits only" in result.stderr
    assert "Traceback" not in result.stderr
    result = kubeling(tmp_path, "ssh", "--name", "nothere", "node")
    assert result.returncode == 1 and "no --kind nodes lab nothere" in result.stderr
