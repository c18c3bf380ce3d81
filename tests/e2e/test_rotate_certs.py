"""Issue 8's certificate-rotation acceptance on a lab (1 control plane + 1 worker, installed over
SSH) serving traffic (tests/e2e/traffic.py): ``deploys/rotate_certs.py`` renews every leaf,
restarts etcd, the control plane and the kubelets one at a time, with zero failed requests;
``kubeling pki check-expiration --cert-dir`` on every host shows the new dates; a second run
with a threshold changes nothing; the kubelets' client certificate rotation is on. Timings printed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.traffic import Traffic

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
LAB = "e2ecerts"
INVENTORY = ROOT / "inventories" / f"lab-{LAB}.py"
KUBECONFIG = INVENTORY.with_suffix(".kubeconfig")
BIN = Path(sys.executable).parent
HOST_KUBELING = "/opt/kubeling/venv/bin/kubeling"


def run(*argv: str, timeout: float = 2400, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
        )
    return done


def kubectl(*args: str) -> str:
    return run(str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args, timeout=120).stdout


def rotate(*data: str) -> tuple[float, str]:
    argv = [str(BIN / "pyinfra"), "-y", str(INVENTORY), "deploys/rotate_certs.py"]
    for item in data:
        argv += ["--data", item]
    started = time.monotonic()
    done = run(*argv)
    return time.monotonic() - started, done.stdout + done.stderr


def changed_operations(output: str) -> str:
    """The Success column of pyinfra's Grand total row ('-' when no operation changed anything)."""
    row = next(line for line in output.splitlines() if "Grand total" in line)
    return re.split(r"\s{2,}", row.strip())[2]


def expirations(node: str) -> dict[str, str]:
    """Certificate name → EXPIRES, as ``kubeling pki check-expiration --cert-dir`` prints it on the host."""
    done = run(
        str(BIN / "kubeling"), "lab", "ssh", "--name", LAB, node, HOST_KUBELING, "pki", "check-expiration",
        "--cert-dir", "/etc/kubernetes/pki", check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    rows = {}
    for line in done.stdout.split("\n\n")[0].splitlines()[1:]:
        cells = re.split(r"\s{3,}", line.strip())
        rows[cells[0]] = cells[1]
    return rows


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, str]]:
    started = time.monotonic()
    try:
        run(str(BIN / "kubeling"), "lab", "up", "--kind", "nodes", "--name", LAB, "--nodes", "1")
        print(f"\nlab up (1 control plane + 1 worker, installed): {time.monotonic() - started:.1f} s")
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        cp = next(
            n for n in nodes if "node-role.kubernetes.io/control-plane" in n["metadata"].get("labels", {})
        )
        ip = next(a["address"] for a in cp["status"]["addresses"] if a["type"] == "InternalIP")
        yield {
            "control_plane": cp["metadata"]["name"],
            "control_plane_ip": ip,
            "nodes": ",".join(n["metadata"]["name"] for n in nodes),
        }
    finally:
        run(str(BIN / "kubeling"), "lab", "down", "--name", LAB, check=False)


def test_rotate_all_certificates_under_traffic(lab: dict[str, str]) -> None:
    nodes = lab["nodes"].split(",")
    before = {node: expirations(node) for node in nodes}
    assert "apiserver" in before[lab["control_plane"]] and "kubelet.conf" in before[lab["control_plane"]]
    time.sleep(61)  # check-expiration prints minutes: renewed dates must read differently

    traffic = Traffic(KUBECONFIG, node_ip=lab["control_plane_ip"], client_node=lab["control_plane"]).start()
    try:
        rotate_seconds, output = rotate()
        assert "[rotate-certs] renewed" in output
        again_seconds, again = rotate("threshold_days=30")
        assert changed_operations(again) == "-", again[-3000:]
        assert "renewed in" in again and "nothing (none expires within 30 days)" in again
    finally:
        report = traffic.stop()

    after = {node: expirations(node) for node in nodes}
    for node in nodes:
        for name, expires in before[node].items():
            assert after[node][name] != expires, (node, name, expires)
    ready = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in ready
    )
    waits = [line for line in output.splitlines() if line.startswith("[rotate-certs] ") and "s" in line]
    print(
        f"\nrotate all certificates: {rotate_seconds:.1f} s; second run (threshold 30 days):"
        f" {again_seconds:.1f} s\n" + "\n".join(waits) + f"\ntraffic: {report.summary()}"
    )
    assert report.count("pod") > 20 and report.count("host") > 20, report.summary()
    assert report.failures == [], report.summary()
