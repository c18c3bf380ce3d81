"""Issue 8's nodes playbooks on a lab of 1 control plane + 1 worker serving traffic (a Deployment
of 3 with a PDB, a NodePort Service queried from this machine, every request logged): ``kubeling
lab add-node`` (``deploys/scale.py``) makes a worker Ready and schedulable; a second scale.py run
changes nothing; the workload moved onto the new worker; ``deploys/remove_node.py`` drains it
(honouring the PDB) and removes it, then ``kubeling lab remove-node`` runs it again (no change)
and drops the node from the lab; the workload keeps serving on the first worker with no failed
request. Timings are printed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.e2e.nodes_support import (
    BIN,
    IMAGE,
    ROOT,
    Kubectl,
    Traffic,
    kubeling,
    run,
    wait_serving,
    web_workload,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

LAB = "sc8"
INVENTORY = ROOT / "inventories" / f"lab-{LAB}.py"
KUBECONFIG = INVENTORY.with_suffix(".kubeconfig")
CP, FIRST, NEW = f"{LAB}-cp-1", f"{LAB}-worker-1", f"{LAB}-worker-2"


@pytest.fixture(scope="module")
def lab() -> Iterator[None]:
    started = time.monotonic()
    try:
        kubeling("lab", "up", "--name", LAB, "--nodes", "1")
        print(f"\nlab (1 control plane + 1 worker) up and installed in {time.monotonic() - started:.1f} s")
        yield
    finally:
        kubeling("lab", "down", "--name", LAB, check=False)


def pyinfra(deploy: str, *extra: str) -> tuple[float, str]:
    started = time.monotonic()
    done = run(str(BIN / "pyinfra"), "-y", str(INVENTORY), deploy, *extra)
    return time.monotonic() - started, done.stdout + done.stderr


def changed_operations(output: str) -> str:
    """The Success column of pyinfra's Grand total row ('-' when no operation changed anything)."""
    row = next(line for line in output.splitlines() if "Grand total" in line)
    return re.split(r"\s{2,}", row.strip())[2]


def web_nodes(kubectl: Kubectl) -> list[str]:
    pods = kubectl.json("pods", "-l", "app=web")["items"]
    return sorted(p["spec"].get("nodeName", "") for p in pods if not p["metadata"].get("deletionTimestamp"))


def test_add_a_worker_then_remove_it_under_traffic(lab: None) -> None:
    kubectl = Kubectl(KUBECONFIG)
    web_workload(kubectl)
    cp_ip = kubectl.json("node", CP)["status"]["addresses"][0]["address"]
    wait_serving(f"http://{cp_ip}:30080/")
    with Traffic(f"http://{cp_ip}:30080/") as traffic:
        started = time.monotonic()
        kubeling("lab", "add-node", "--name", LAB)
        added = time.monotonic() - started
        assert NEW in kubectl.ready_nodes()
        assert not kubectl.json("node", NEW)["spec"].get("unschedulable")

        again, output = pyinfra("deploys/scale.py")
        assert changed_operations(output) == "-", output[-3000:]

        # Schedulable: a pod the scheduler may only place there runs there.
        overrides = json.dumps({"spec": {"nodeSelector": {"kubernetes.io/hostname": NEW}}})
        kubectl("run", "probe", f"--image={IMAGE}", f"--overrides={overrides}", "--", "sleep", "3600")
        kubectl("wait", "--for=condition=Ready", "pod/probe", "--timeout=240s", timeout=260)
        kubectl("delete", "pod", "probe", "--wait=false")

        # Move the workload onto the new worker, so removing it has something to drain.
        kubectl("cordon", FIRST)
        kubectl("rollout", "restart", "deployment/web")
        kubectl("rollout", "status", "deployment/web", "--timeout=300s", timeout=320)
        kubectl("uncordon", FIRST)
        assert web_nodes(kubectl) == [NEW] * 3

        removed, _ = pyinfra("deploys/remove_node.py", "--data", f"node={NEW}")
        # The lab's remove-node runs remove_node.py again (a second run: no change), then drops
        # the container and rewrites the inventory.
        started = time.monotonic()
        done = kubeling("lab", "remove-node", "--name", LAB, NEW)
        output = done.stdout + done.stderr  # pyinfra reports on stderr
        second_removal = time.monotonic() - started
        assert changed_operations(output) == "-", output[-3000:]
        assert run("docker", "inspect", NEW, check=False).returncode != 0  # the container went
        assert NEW not in {n["metadata"]["name"] for n in kubectl.json("nodes")["items"]}
        assert web_nodes(kubectl) == [FIRST] * 3
        assert kubectl.json("deployment", "web")["status"].get("availableReplicas") == 3
        time.sleep(5)
    print(
        f"add-node (boot + scale.py, to Ready): {added:.1f} s; second scale.py: {again:.1f} s;"
        f" remove_node.py: {removed:.1f} s; lab remove-node (second remove_node.py): {second_removal:.1f} s;"
        f" traffic: {traffic.summary()}"
    )
    assert traffic.failures == [], traffic.failures[:10]
    assert NEW not in INVENTORY.read_text()
