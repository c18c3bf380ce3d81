"""Issue 7's verification acceptance on an installed 3-node lab (1 control plane + 2 workers).

``kubeling lab up --kind nodes`` boots the nodes and runs deploys/install.py over
SSH; then ``kubeling verify`` passes, and after ``systemctl stop kubelet`` on a
worker it exits 1 naming that worker and its kubelet check.  The lab has a name
of this session's own and is removed afterwards, failures included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
KUBELING = str(Path(sys.executable).with_name("kubeling"))


@dataclass(frozen=True)
class InstalledLab:
    name: str
    inventory: Path

    def worker(self, n: int) -> str:
        return f"{self.name}-worker-{n}"

    def ssh(self, node: str, *command: str) -> subprocess.CompletedProcess[str]:
        argv = [KUBELING, "lab", "ssh", "--name", self.name, node, *command]
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)

    def verify(self) -> subprocess.CompletedProcess[str]:
        argv = [KUBELING, "verify", "-i", str(self.inventory)]
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed_lab() -> Iterator[InstalledLab]:
    name = f"v{os.getpid() % 100000}"
    lab = InstalledLab(name, ROOT / "inventories" / f"lab-{name}.py")
    try:
        up = subprocess.run(
            [KUBELING, "lab", "up", "--kind", "nodes", "--name", name, "--nodes", "2"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield lab
    finally:
        subprocess.run([KUBELING, "lab", "down", "--name", name], cwd=ROOT, capture_output=True, timeout=300)


def test_verify_passes_on_a_fresh_install(installed_lab: InstalledLab) -> None:
    done = installed_lab.verify()
    failures = [line for line in done.stdout.splitlines() if "FAILED" in line]
    assert done.returncode == 0 and not failures, "\n".join(failures) or done.stderr
    assert done.stdout.splitlines()[-1].startswith("all ")
    checks = {tuple(line.split()[:2]) for line in done.stdout.splitlines()}
    assert ("cluster", "dns") in checks and ("cluster", "service") in checks
    assert (installed_lab.worker(2), "pod-routes") in checks


def test_a_stopped_kubelet_fails_naming_the_worker_and_the_check(installed_lab: InstalledLab) -> None:
    worker = installed_lab.worker(1)
    installed_lab.ssh(worker, "systemctl", "stop", "kubelet")
    try:
        done = installed_lab.verify()
    finally:
        installed_lab.ssh(worker, "systemctl", "start", "kubelet")
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.split()[:3] == [worker, "unit", "kubelet"]]
    assert "FAILED: systemctl is-active says inactive" in line
    # every host failure is the stopped worker's (the cluster checks may see it NotReady too)
    lines = done.stdout.splitlines()
    host_failures = [x for x in lines if "FAILED" in x and not x.startswith("cluster")]
    assert all(line.startswith(worker) for line in host_failures), host_failures
