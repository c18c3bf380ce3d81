"""The ``default/kubernetes`` Service's endpoints come from the API servers' own Leases."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

ADVERTISED = "10.253.0.7"  # documentation-only address: nothing is sent to it


def _get(server: KubelingServer, *args: str) -> dict:
    return json.loads(kubectl(server, "get", *args, "-o", "json").stdout)


def _wait(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_server_advertises_itself_and_leaves_on_stop(tmp_path: Path) -> None:
    server = KubelingServer(
        tmp_path / "a", extra_args=["--advertise-address", ADVERTISED, "--disable-controller-manager"]
    ).start()
    try:

        def endpoints() -> dict | None:
            obj = _get(server, "endpoints", "kubernetes", "-n", "default")
            return obj if obj.get("subsets") else None

        found = _wait(endpoints)
        assert found, "the kubernetes Endpoints never got an address"
        [subset] = found["subsets"]
        assert subset["addresses"] == [{"ip": ADVERTISED}]
        assert subset["ports"] == [{"name": "https", "port": server.port, "protocol": "TCP"}]
        assert found["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"

        slice_ = _get(server, "endpointslices.discovery.k8s.io", "kubernetes", "-n", "default")
        assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
        assert slice_["addressType"] == "IPv4"
        assert slice_["endpoints"] == [{"addresses": [ADVERTISED], "conditions": {"ready": True}}]
        assert slice_["ports"][0]["port"] == server.port

        leases = _get(server, "leases", "-n", "kube-system", "-l", "apiserver.kubernetes.io/identity")
        [lease] = leases["items"]
        assert (
            lease["metadata"]["annotations"]["kubeling.io/advertise-address"] == f"{ADVERTISED}:{server.port}"
        )
        assert lease["spec"]["leaseDurationSeconds"] == 15
    finally:
        server.stop()
    # A clean stop removes the server from the endpoints at once (read the datastore back).
    again = KubelingServer(tmp_path / "a", extra_args=["--disable-controller-manager"]).start()
    try:
        endpoints = _get(again, "endpoints", "kubernetes", "-n", "default")
        assert not endpoints.get("subsets"), endpoints
        leases = _get(again, "leases", "-n", "kube-system", "-l", "apiserver.kubernetes.io/identity")
        assert leases["items"] == []
    finally:
        again.stop()
