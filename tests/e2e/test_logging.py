"""Issue 9's logging acceptance on two nodes: a real pod prints numbered lines and is deleted;
every line is then found with ``kubeling logs query`` by its namespace and labels.

The logging addon (collector DaemonSet, log-store Deployment, APIService) is applied on top of
the ``services_lab`` addons (applying it again once it is a default addon changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from kubeling.addons import AddonValues, apply_addons
from kubeling.client.kubeconfig import load_kubeconfig
from kubeling.client.rest import RESTClient
from tests.e2e.conftest import ServicesLab

# The services_lab fixture builds the kubeling image when missing or stale (minutes on a cold machine).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

BUSYBOX = "kubeling/busybox:0.1.0"
LINES = 200
POSITIONS_DIR = Path(
    "/var/lib/kubeling-log-collector"
)  # the collectors' hostPath (lab nodes share the host's)
T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s; last answer {answer!r}"[:2000])
        time.sleep(interval)


async def _apply_logging(lab: ServicesLab) -> list[str]:
    spec = lab.lab.spec
    client = RESTClient(load_kubeconfig(lab.lab.kubeconfig), component="e2e-logging")
    try:
        image = next(
            c["image"]
            for c in lab.get("-n", "kube-system", "deployment", "metrics-server")["spec"]["template"]["spec"][
                "containers"
            ]
        )
        values = AddonValues(
            image=image,
            apiserver_url=spec.apiserver_url,
            service_cidr=spec.service_cidr,
            cluster_cidr=spec.cluster_cidr,
        )
        return await apply_addons(client, ["logging"], values)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def logging_lab(services_lab: ServicesLab) -> Iterator[ServicesLab]:
    lab = services_lab
    try:
        try:
            lab.lab.wait_rollouts(asyncio.run(_apply_logging(lab)))
        except Exception:
            _dump(lab)
            raise

        def available() -> bool:
            conditions = (
                lab.get("apiservice", "v1alpha1.logging.kubeling.io").get("status", {}).get("conditions", [])
            )
            return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

        eventually(available, 120, "APIService v1alpha1.logging.kubeling.io Available")
        yield lab
    finally:
        for node in lab.lab.nodes:  # the positions files are on this host, named by the lab's nodes
            with contextlib.suppress(OSError):
                (POSITIONS_DIR / f"{node.name}.json").unlink()


def _dump(lab: ServicesLab) -> None:
    """What the addon's pods are doing, for a failed rollout's report."""
    for args in (
        ("get", "pods", "-A", "-o", "wide"),
        ("-n", "kube-system", "describe", "pods", "-l", "k8s-app in (log-store,log-collector)"),
        ("-n", "kube-system", "logs", "-l", "k8s-app=log-store", "--tail=50"),
        ("-n", "kube-system", "logs", "-l", "k8s-app=log-collector", "--tail=20"),
    ):
        result = lab.kubectl(*args, check=False)
        print(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")


def logs_query(lab: ServicesLab, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kubeling.cli", "logs", "query", "--kubeconfig", str(lab.lab.kubeconfig)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


def test_a_deleted_pods_numbered_lines_are_all_queryable(logging_lab: ServicesLab) -> None:
    lab = logging_lab
    namespace = f"logs-{uuid.uuid4().hex[:5]}"
    script = f'i=1; while [ $i -le {LINES} ]; do echo "line $i"; i=$((i+1)); done; exec sleep 3600'
    manifest = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: counter, namespace: {namespace}, labels: {{app: counter, run: {namespace}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{{name: count, image: {BUSYBOX}, command: [sh, -c, '{script}']}}]
"""
    subprocess.run(
        [
            str(Path(sys.executable).with_name("kubectl")),
            "--kubeconfig",
            str(lab.lab.kubeconfig),
            "apply",
            "-f",
            "-",
        ],
        input=manifest,
        text=True,
        check=True,
        capture_output=True,
    )
    try:
        lab.kubectl(
            "-n", namespace, "wait", "--for=condition=Ready", "pod/counter", "--timeout=120s", timeout=140
        )
        eventually(
            lambda: f"line {LINES}" in lab.kubectl("-n", namespace, "logs", "counter", check=False).stdout,
            60,
            "the pod printed every line",
        )
        # The collector has found the container before the pod goes.
        eventually(
            lambda: logs_query(lab, "-n", namespace, "--pod", "counter").stdout.strip(), 90, "first lines"
        )
        lab.kubectl("-n", namespace, "delete", "pod", "counter", "--wait=true", "--timeout=90s", timeout=110)

        expected = [f"[pod/counter/count] line {n}" for n in range(1, LINES + 1)]

        def all_lines() -> list[str] | None:
            result = logs_query(lab, "-n", namespace, "-l", "app=counter", "--since", "30m")
            lines = result.stdout.splitlines()
            return lines if len(lines) >= LINES else None

        assert eventually(all_lines, 90, "every line queryable after the deletion") == expected
        by_other_label = logs_query(
            lab, "-n", namespace, "-l", f"run={namespace},app in (counter)", "--contains", "line 20"
        )
        assert by_other_label.stdout.splitlines() == [f"[pod/counter/count] line {n}" for n in (20, 200)]
        everywhere = logs_query(lab, "-A", "-l", f"run={namespace}", "--limit", "1")
        assert everywhere.stdout.splitlines() == [f"[{namespace}/pod/counter/count] line 1"]
    finally:
        lab.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
