"""Fixtures of the kube-proxy tests: the namespace lab, a private apiserver the node can reach, the proxy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.server import REPO, KubelingServer
from tests.integration.proxy.netns import CLUSTER_CIDR, SERVICE_RANGE, Lab


class ReachableServer(KubelingServer):
    """A server bound to the host end of the lab's uplink, so the node namespace can reach it."""

    def __init__(self, data_dir: Path, address: str) -> None:
        self.address = address
        super().__init__(
            data_dir,
            extra_args=[
                "--bind-address", address, "--advertise-address", address,
                "--service-cluster-ip-range", SERVICE_RANGE,
                "--disable-controller-manager", "--disable-scheduler",
            ],
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    def post(self, path: str, obj: dict) -> dict:
        status, body = self.request(
            "POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"}
        )
        assert status == 201, body
        return json.loads(body)

    def put(self, path: str, obj: dict) -> dict:
        status, body = self.request(
            "PUT", path, json.dumps(obj).encode(), {"Content-Type": "application/json"}
        )
        assert status == 200, body
        return json.loads(body)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    instance = Lab(tmp_path_factory.mktemp("proxy-lab"))
    try:
        instance.create()
        instance.start_http("ep1")
        instance.start_http("ep2")
        instance.start_udp("ep1")
        instance.start_udp("ep2")
        yield instance
    finally:
        instance.destroy()


@pytest.fixture(scope="module")
def api(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReachableServer]:
    server = ReachableServer(tmp_path_factory.mktemp("proxy-api"), lab.host_ip).start()
    yield server
    server.stop()


class ProxyProcess:
    def __init__(self, lab: Lab, api: KubelingServer, log_path: Path) -> None:
        self.lab, self.api, self.log_path = lab, api, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        return self.lab.exec("node", sys.executable, "-m", "kubeling.cli", "proxy", *extra)

    def start(self) -> ProxyProcess:
        argv = self.command(
            "--kubeconfig", str(self.api.kubeconfig), "--hostname-override", "node-a",
            "--cluster-cidr", CLUSTER_CIDR, "--iptables-min-sync-period", "200ms",
            "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
        )  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        return self

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code


@pytest.fixture(scope="module")
def proxy(lab: Lab, api: KubelingServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    process = ProxyProcess(lab, api, tmp_path_factory.mktemp("proxy-log") / "proxy.log").start()
    try:
        yield process
    finally:
        process.stop()
        lab.run("node", sys.executable, "-m", "kubeling.cli", "proxy", "--cleanup", check=False)


def wait_for(check, *, timeout: float = 15.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")
