"""The upgrade's addon steps (``python -m deploys.tasks.api``) against a real apiserver.

No controllers run here: the test plays the kubelets (Node versions) and the
controllers (rollout status) itself, so each outcome is the step's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict

import pytest

from kubeling.addons import AddonValues
from tests.fixtures.server import REPO, KubelingServer

pytestmark = pytest.mark.integration

NODES = ("up-1", "up-2")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubelingServer]:
    server = KubelingServer(
        tmp_path_factory.mktemp("addon-steps"),
        extra_args=["--disable-controller-manager", "--disable-scheduler"],
    ).start()
    yield server
    server.stop()


def values(version: str) -> str:
    return json.dumps(
        asdict(AddonValues(image=f"kubeling/kubeling:{version}", apiserver_url="https://10.0.0.1:6443"))
    )


def step(api: KubelingServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploys.tasks.api", *args, "--kubeconfig", str(api.kubeconfig)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def call(api: KubelingServer, method: str, path: str, body: dict, content_type: str) -> dict:
    status, answer = api.request(method, path, json.dumps(body).encode(), {"Content-Type": content_type})
    assert status in (200, 201), answer
    return json.loads(answer)


def set_kubelet_version(api: KubelingServer, node: str, version: str) -> None:
    status, _ = api.request("GET", f"/api/v1/nodes/{node}")
    if status == 404:
        call(api, "POST", "/api/v1/nodes", {"metadata": {"name": node}}, "application/json")
    patch = {"status": {"nodeInfo": {"kubeletVersion": f"v1.37.0-kubeling.{version}"}}}
    call(api, "PATCH", f"/api/v1/nodes/{node}/status", patch, "application/merge-patch+json")


def dns_image(api: KubelingServer) -> str | None:
    status, answer = api.request("GET", "/apis/apps/v1/namespaces/kube-system/deployments/coredns")
    if status == 404:
        return None
    return json.loads(answer)["spec"]["template"]["spec"]["containers"][0]["image"]


def addons(api: KubelingServer, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return step(
        api, "addons", "--addons", "dns", "--values", values(version),
        "--only-if-nodes-at", version, "--nodes", ",".join(NODES), *extra,
    )  # fmt: skip


def test_addons_move_to_the_target_only_once_every_kubelet_is_there(api: KubelingServer) -> None:
    set_kubelet_version(api, "up-1", "0.2.0")
    set_kubelet_version(api, "up-2", "0.1.0")
    for extra in (("--check",), ()):
        held = addons(api, "0.2.0", *extra)
        assert (held.returncode, held.stdout.strip()) == (0, "unchanged"), held.stderr
        assert "up-2 not at 0.2.0" in held.stderr
    assert dns_image(api) is None

    set_kubelet_version(api, "up-2", "0.2.0")
    assert addons(api, "0.2.0", "--check").stdout.strip() == "changed"
    applied = addons(api, "0.2.0")
    assert applied.returncode == 0, applied.stderr
    assert dns_image(api) == "kubeling/kubeling:0.2.0"
    # Applied once, the same run again has nothing to do.
    assert addons(api, "0.2.0", "--check").stdout.strip() == "unchanged"


def test_wait_addons_waits_for_the_rollout(api: KubelingServer) -> None:
    if dns_image(api) is None:
        set_kubelet_version(api, "up-1", "0.2.0")
        set_kubelet_version(api, "up-2", "0.2.0")
        assert addons(api, "0.2.0").returncode == 0
    wait = ["wait-addons", "--addons", "dns", "--values", values("0.2.0"), "--timeout", "2"]
    pending = step(api, *wait)
    assert pending.returncode == 1
    assert "not rolled out after 2s: Deployment kube-system/coredns" in pending.stderr

    path = "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
    deployment = json.loads(api.request("GET", path)[1])
    replicas = deployment["spec"]["replicas"]
    rolled = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "readyReplicas": replicas,
    }
    call(api, "PATCH", f"{path}/status", {"status": rolled}, "application/merge-patch+json")
    done = step(api, *wait)
    assert (done.returncode, done.stdout.strip()) == (0, "unchanged"), done.stderr
