"""``kubeling server --addons``: the addons' objects are applied once the API is up, idempotently."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kubeling.addons import DEFAULT_ADDONS
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

IMAGE = "kubeling/kubeling:addons-test"


def _get(server: KubelingServer, *args: str) -> dict | None:
    answer = kubectl(server, "get", *args, "-o", "json", check=False)
    return json.loads(answer.stdout) if answer.returncode == 0 else None


def _wait_for(server: KubelingServer, *args: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (obj := _get(server, *args)) is None:
        assert time.monotonic() < deadline, f"{args} never appeared"
        time.sleep(0.3)
    return obj


def test_server_applies_the_addons(tmp_path: Path) -> None:
    args = ["--addons", ",".join(DEFAULT_ADDONS), "--addons-image", IMAGE, "--disable-scheduler"]
    server = KubelingServer(tmp_path / "data", extra_args=args).start()
    try:
        dns = _wait_for(server, "service", "kube-dns", "-n", "kube-system")
        assert dns["spec"]["clusterIP"] == "10.96.0.10"
        coredns = _wait_for(server, "deployment", "coredns", "-n", "kube-system")
        assert coredns["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
        proxy = _wait_for(server, "daemonset", "kube-proxy", "-n", "kube-system")
        assert proxy["spec"]["template"]["spec"]["hostNetwork"] is True
        config = _wait_for(server, "configmap", "kube-proxy", "-n", "kube-system")
        assert f"https://127.0.0.1:{server.port}" in json.dumps(config["data"])
        apiservice = _wait_for(server, "apiservice", "v1beta1.metrics.k8s.io")
        assert apiservice["spec"]["service"]["name"] == "metrics-server"
        generation = coredns["metadata"]["generation"]
    finally:
        server.stop()
    # Applying again on restart changes nothing that was already right.
    server = KubelingServer(tmp_path / "data", extra_args=args).start()
    try:
        time.sleep(2)
        coredns = _wait_for(server, "deployment", "coredns", "-n", "kube-system")
        assert coredns["metadata"]["generation"] == generation
    finally:
        server.stop()
