"""Issue 7's install path end to end: ``lab up --kind nodes --no-install`` (1 control plane + 2
workers as systemd containers), then ``deploys/install.py`` over SSH, a second run that changes
nothing, and ``reset.py`` followed by a fresh install. Prints both install wall times."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
LAB = "e2edeploy"
INVENTORY = ROOT / "inventories" / f"lab-{LAB}.py"
KUBECONFIG = INVENTORY.with_suffix(".kubeconfig")
BIN = Path(sys.executable).parent


def run(*argv: str, timeout: float = 1500, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def pyinfra(deploy: str) -> tuple[float, str]:
    started = time.monotonic()
    done = run(str(BIN / "pyinfra"), "-y", str(INVENTORY), deploy)
    return time.monotonic() - started, done.stdout + done.stderr


def changed_operations(output: str) -> str:
    """The Success column of pyinfra's Grand total row ('-' when no operation changed anything)."""
    row = next(line for line in output.splitlines() if "Grand total" in line)
    return re.split(r"\s{2,}", row.strip())[2]


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args, timeout=120, check=check)


@pytest.fixture(scope="module")
def lab() -> Iterator[None]:
    run(str(BIN / "kubeling"), "lab", "up", "--kind", "nodes", "--no-install", "--name", LAB)
    try:
        yield
    finally:
        run(str(BIN / "kubeling"), "lab", "down", "--name", LAB, check=False)


def eventually(check, timeout: float = 180.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"not true after {timeout:.0f}s: {answer!r}"
        time.sleep(2)


def test_install_twice_reset_and_install_again(lab: None) -> None:
    first, _ = pyinfra("deploys/install.py")
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 3
    second, output = pyinfra("deploys/install.py")
    print(f"\ninstall (3 nodes): {first:.1f} s; second run: {second:.1f} s")
    assert changed_operations(output) == "-", output[-3000:]

    workers = sorted(n["metadata"]["name"] for n in nodes if "worker" in n["metadata"]["name"])
    kubectl(
        "create", "deployment", "web", "--image=kubeling/busybox:0.1.0", "--", "httpd", "-f", "-p", "8080"
    )
    kubectl("patch", "deployment", "web", "-p",
            json.dumps({"spec": {"template": {"spec": {"nodeName": workers[0]}}}}))  # fmt: skip
    kubectl("expose", "deployment", "web", "--port", "80", "--target-port", "8080")
    overrides = json.dumps({"spec": {"nodeName": workers[1]}})
    kubectl(
        "run", "client", "--image=kubeling/busybox:0.1.0", f"--overrides={overrides}", "--", "sleep", "3600"
    )
    kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=180s")
    url = "http://web.default.svc.cluster.local"
    fetch = ("exec", "client", "--", "wget", "-qO-", "-T", "3", url)
    eventually(lambda: kubectl(*fetch, check=False).returncode == 0)
    assert kubectl("logs", "deployment/web").returncode == 0
    eventually(lambda: kubectl("top", "nodes", check=False).returncode == 0, timeout=240)

    pyinfra("deploys/reset.py")
    again, _ = pyinfra("deploys/install.py")
    print(f"install after reset: {again:.1f} s")
    eventually(lambda: len(json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]) == 3)
