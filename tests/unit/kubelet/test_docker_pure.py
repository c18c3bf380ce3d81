"""Pure helpers of the Docker runtime: engine timestamps, reasons, users, stats, refs, stream frames."""

from __future__ import annotations

import pytest

from kubeling.kubelet import docker as kdocker
from kubeling.kubelet.dockerstreams import Demuxer, frame
from kubeling.kubelet.runtime import DNSConfig


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T13:04:31.123456789Z", 1795439071.123456789),
        ("2026-11-23T13:04:31Z", 1795439071.0),
        ("2026-11-23T14:04:31.5+01:00", 1795439071.5),
        ("0001-01-01T00:00:00Z", 0.0),
        ("", 0.0),
    ],
    ids=["nanos", "whole", "offset", "zero-time", "empty"],
)
def test_parse_time(value: str, expected: float) -> None:
    assert kdocker.parse_time(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"ExitCode": 0}, "Completed"),
        ({"ExitCode": 2}, "Error"),
        ({"ExitCode": 137, "OOMKilled": True}, "OOMKilled"),
        ({"ExitCode": 127, "Error": "exec: not found"}, "ContainerCannotRun"),
    ],
    ids=["completed", "error", "oom", "cannot-run"],
)
def test_exit_reason(state: dict, reason: str) -> None:
    assert kdocker.exit_reason(state) == reason


@pytest.mark.parametrize(
    ("uid", "gid", "spec"),
    [
        (None, None, ""),
        (1000, None, "1000"),
        (1000, 3000, "1000:3000"),
        (None, 3000, "0:3000"),
        (0, 0, "0:0"),
    ],
)
def test_user_spec(uid: int | None, gid: int | None, spec: str) -> None:
    assert kdocker.user_spec(uid, gid) == spec


def test_cpu_nanocores_and_working_set() -> None:
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000},
            "system_cpu_usage": 20_000_000,
            "online_cpus": 2,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 10_000_000},
    }
    assert kdocker.cpu_nanocores(stats) == 400_000_000  # 2ms of 10ms system time on 2 cpus = 0.4 cores
    assert kdocker.cpu_nanocores({}) == 0
    assert kdocker.working_set({"usage": 100, "stats": {"total_inactive_file": 30}}) == 70
    assert kdocker.working_set({"usage": 100, "stats": {"inactive_file": 150}}) == 0


@pytest.mark.parametrize(
    ("ref", "split"),
    [
        ("busybox", ("busybox", "latest")),
        ("kubeling/pause:0.1.0", ("kubeling/pause", "0.1.0")),
        ("localhost:5000/x/y", ("localhost:5000/x/y", "latest")),
        ("localhost:5000/x:1", ("localhost:5000/x", "1")),
        ("x@sha256:abc", ("x", "sha256:abc")),
    ],
)
def test_split_ref(ref: str, split: tuple[str, str]) -> None:
    assert kdocker._split_ref(ref) == split


def test_names_and_resolv_conf() -> None:
    assert kdocker.container_name("podsandbox", "POD", "p", "ns", "u", 0) == "k8s_POD_p_ns_u_0"
    assert kdocker.container_name("container", "web", "p", "ns", "u", 2) == "k8s_web_p_ns_u_2"
    dns = DNSConfig(
        servers=["10.96.0.10"], searches=["ns.svc.cluster.local", "svc.cluster.local"], options=["ndots:5"]
    )
    assert kdocker.resolv_conf(dns) == (
        "nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
    )


def test_demuxer_reassembles_split_frames() -> None:
    data = frame(1, b"hello ") + frame(2, b"oops") + frame(1, b"world")
    demux = Demuxer()
    got = []
    for i in range(0, len(data), 5):  # arrive in awkward pieces
        got += demux.feed(data[i : i + 5])
    assert got == [(1, b"hello "), (2, b"oops"), (1, b"world")]
    assert demux.feed(b"") == []


def test_missing_host_caps_reads_the_bounding_set() -> None:
    all_but_sys_resource = ((1 << 41) - 1) & ~(1 << 24)
    assert kdocker.missing_host_caps(f"Name:\tx\nCapBnd:\t{all_but_sys_resource:016x}\n") == ["SYS_RESOURCE"]
    assert kdocker.missing_host_caps(f"CapBnd:\t{(1 << 41) - 1:016x}\n") == []
    assert kdocker.CAPABILITIES[12] == "NET_ADMIN" and kdocker.CAPABILITIES[21] == "SYS_ADMIN"


def test_capabilities_newer_than_the_engine_are_never_dropped() -> None:
    # A node that is itself a container (Docker 20.10's ALL): up to AUDIT_READ, less SYS_RESOURCE.
    engine_all = ((1 << 38) - 1) & ~(1 << kdocker.CAPABILITIES.index("SYS_RESOURCE"))
    assert kdocker.missing_host_caps(f"CapBnd:\t{engine_all:016x}\n") == ["SYS_RESOURCE"]
