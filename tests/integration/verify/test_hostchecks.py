"""verify's host checks over real SSH against a lab node holding a fake installed layout."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeling.verify import hostchecks
from kubeling.verify.report import CheckResult
from kubeling.verify.targets import connections, load_targets, open_host
from tests.integration.verify.conftest import FakeHost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _check(host: FakeHost, networks: list) -> dict[str, CheckResult]:
    [target] = load_targets(host.inventory)
    with connections() as control_dir:
        results = hostchecks.check_host(
            open_host(target, control_dir),
            target,
            networks=networks,
            etcd_members=1,
            now=dt.datetime.now(dt.UTC),
        )
    return {r.check: r for r in results}


def _wait_healthy(host: FakeHost) -> None:
    deadline = time.monotonic() + 30
    while True:
        found = _check(host, [host.routed])
        if all(r.ok for r in found.values()) or time.monotonic() > deadline:
            return
        time.sleep(1)


@pytest.fixture
def healthy(fake_host: FakeHost) -> Iterator[FakeHost]:
    _wait_healthy(fake_host)  # etcd and the stand-in kubelet take a moment to listen
    yield fake_host


def test_every_check_passes_on_a_healthy_host(healthy: FakeHost) -> None:
    found = _check(healthy, [healthy.routed])
    assert [f"{c}: {r.detail}" for c, r in found.items() if not r.ok] == []
    assert {"unit docker", "unit kubelet", "unit etcd", "port 10250", "port 2379", "port 2380"} <= set(found)
    assert found["etcd health"].detail == "1 member(s) healthy"  # real etcdctl against real etcd with TLS
    assert "https://127.0.0.1:10250/healthz: 200 ok" in found["kubelet healthz"].detail
    assert found["key /etc/kubernetes/pki/kubelet/node.key"].detail == "mode 0600"


def test_stopped_kubelet_fails_naming_the_host_and_the_kubelet_check(healthy: FakeHost) -> None:
    healthy.ssh("systemctl stop kubelet")
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("kubeling")), "verify", "-i", str(healthy.inventory)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        healthy.ssh("systemctl start kubelet")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    failed = [line.split()[:3] for line in lines if "FAILED" in line]
    assert [healthy.name, "unit", "kubelet"] in failed
    assert [healthy.name, "kubelet", "healthz"] in failed
    assert [healthy.name, "port", "10250"] in failed
    assert [healthy.name, "unit", "etcd"] not in failed
    [kubelet_line] = [line for line in lines if line.startswith(healthy.name) and "unit kubelet" in line]
    assert kubelet_line.endswith("FAILED: systemctl is-active says inactive")


def test_readable_key_and_missing_route_are_named(healthy: FakeHost) -> None:
    key = "/etc/kubernetes/pki/kubelet/node.key"
    healthy.ssh(f"chmod 644 {key}")
    try:
        found = _check(healthy, [healthy.routed, healthy.unrouted])
    finally:
        healthy.ssh(f"chmod 600 {key}")
    assert found[f"key {key}"].detail == "mode 0644, want 0600"
    assert found["pod-routes"].detail == f"no route to {healthy.unrouted.cidr} (peer-b)"
    assert sorted(c for c, r in found.items() if not r.ok) == [f"key {key}", "pod-routes"]
