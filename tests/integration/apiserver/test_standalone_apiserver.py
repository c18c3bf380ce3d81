"""``kubeling apiserver`` on its own, on an etcd that demands client certificates."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures.server import free_port, kubectl_path

pytestmark = pytest.mark.integration


def test_apiserver_on_tls_etcd_with_kubectl(tmp_path: Path, etcd_tls_server) -> None:
    port = free_port()
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('s3cret-token,alice,1000,"system:masters"\n')
    command = [
        sys.executable, "-m", "kubeling.cli", "apiserver",
        "--bind-address", "127.0.0.1", "--secure-port", str(port), "--cert-dir", str(tmp_path / "pki"),
        "--etcd-servers", ",".join(etcd_tls_server.endpoints),
        "--etcd-cafile", str(etcd_tls_server.ca_file), "--etcd-certfile", str(etcd_tls_server.cert_file),
        "--etcd-keyfile", str(etcd_tls_server.key_file), "--token-auth-file", str(tokens),
    ]  # fmt: skip
    log = (tmp_path / "apiserver.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "certificate-authority": str(tmp_path / "pki" / "ca.crt"),
                        },
                    }
                ],
                "users": [{"name": "alice", "user": {"token": "s3cret-token"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "alice"}}],
                "current-context": "c",
            }
        )
    )

    def kubectl(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = [f"--token={token}"] if token else []
        return subprocess.run(
            [kubectl_path(), f"--kubeconfig={kubeconfig}", *extra, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        deadline = time.monotonic() + 30
        while True:
            result = kubectl("get", "--raw", "/readyz")
            if result.returncode == 0 or time.monotonic() > deadline or process.poll() is not None:
                break
            time.sleep(0.2)
        assert result.stdout == "ok", (result.stderr, (tmp_path / "apiserver.log").read_text()[-3000:])
        namespaces = kubectl("get", "namespaces", "-o", "json")
        names = {n["metadata"]["name"] for n in json.loads(namespaces.stdout)["items"]}
        assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
        created = kubectl("create", "configmap", "tls-ok", "--from-literal=k=v")
        assert created.returncode == 0, created.stderr
        denied = kubectl("get", "pods", token="wrong-token")
        assert denied.returncode != 0 and "Unauthorized" in denied.stderr
    finally:
        process.terminate()
        process.wait(timeout=15)
