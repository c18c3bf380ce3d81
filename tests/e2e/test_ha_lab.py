"""Issue 7's HA acceptance: a lab of 3 control planes (etcd on each) and 1 worker; one control-plane
node is stopped (its container, so everything on it goes at once); the API keeps answering through
the others, the worker stays Ready through its node-local ``kubeling lb``, the workload keeps serving
(every request logged) and a new Pod is scheduled and runs. Timings are printed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.nodes_support import (
    IMAGE,
    ROOT,
    Kubectl,
    Traffic,
    eventually,
    kubeling,
    run,
    wait_serving,
    web_workload,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

LAB = "ha8e"
INVENTORY = ROOT / "inventories" / f"lab-{LAB}.py"
KUBECONFIG = INVENTORY.with_suffix(".kubeconfig")
CP1, CP2, WORKER = f"{LAB}-cp-1", f"{LAB}-cp-2", f"{LAB}-worker-1"


@pytest.fixture(scope="module")
def lab() -> Iterator[None]:
    started = time.monotonic()
    try:
        kubeling("lab", "up", "--name", LAB, "--control-planes", "3", "--nodes", "1")
        print(
            f"\nHA lab (3 control planes + 1 worker) up and installed in {time.monotonic() - started:.1f} s"
        )
        yield
    finally:
        kubeling("lab", "down", "--name", LAB, check=False)


def on(node: str, command: str) -> str:
    # ssh hands the remote shell one command line: pass it as one argument.
    return kubeling("lab", "ssh", "--name", LAB, node, "--", command, timeout=60).stdout


def test_losing_a_control_plane_keeps_the_cluster_working(lab: None) -> None:
    kubectl = Kubectl(KUBECONFIG)
    assert len(kubectl.ready_nodes()) == 4
    # The worker reaches the API through its balancer; every control plane is an etcd member.
    assert "server: https://127.0.0.1:6444" in on(WORKER, "cat /etc/kubernetes/kubelet.conf")
    assert on(WORKER, "systemctl is-active kubeling-lb").strip() == "active"
    members = on(
        CP2,
        "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt"
        " --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt"
        " --key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list",
    )
    assert len(members.strip().splitlines()) == 3, members

    web_workload(kubectl)
    cp2_ip = kubectl.json("node", CP2)["status"]["addresses"][0]["address"]
    survivor = Kubectl(KUBECONFIG, context=CP2)  # the admin kubeconfig's context for cp-2
    wait_serving(f"http://{cp2_ip}:30080/")
    with Traffic(f"http://{cp2_ip}:30080/") as traffic:
        time.sleep(3)
        stopped = time.monotonic()
        run("docker", "stop", CP1, timeout=120)
        print(f"docker stop {CP1}: {time.monotonic() - stopped:.1f} s")

        eventually(lambda: survivor("get", "--raw", "/readyz", check=False).returncode == 0, 60, "API")
        api_back = time.monotonic() - stopped

        started = time.monotonic()
        survivor("run", "after-failover", f"--image={IMAGE}", "--", "sleep", "3600")
        survivor("wait", "--for=condition=Ready", "pod/after-failover", "--timeout=240s", timeout=260)
        new_pod = time.monotonic() - started
        assert survivor.json("pod", "after-failover")["spec"]["nodeName"] == WORKER

        # Past the node monitor's grace period (40 s): the worker still renews its lease.
        time.sleep(max(0.0, 50 - (time.monotonic() - stopped)))
        assert WORKER in survivor.ready_nodes()
        web = survivor.json("deployment", "web")["status"]
        assert web.get("availableReplicas") == 3, web
    print(
        f"API answering via {CP2} {api_back:.1f} s after the stop; new pod Ready in {new_pod:.1f} s;"
        f" traffic via {CP2}: {traffic.summary()}"
    )
    assert traffic.failures == [], traffic.failures[:10]
