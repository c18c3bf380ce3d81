"""Several apiserver processes on one port (``--apiserver-workers``), on a private etcd.

Each request below goes over a new connection, so the kernel spreads them
over the processes (SO_REUSEPORT hashes the client's port).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.crds import schemaless_crd
from tests.fixtures.etcd import EtcdServer
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

WORKERS = 3
APISERVER_ONLY = ["--disable-controller-manager", "--disable-scheduler"]


def listening_sockets(port: int) -> int:
    """How many sockets listen on this TCP port (each worker's is listed apart)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                count += 1
    return count


def worker_pids(primary: int) -> set[int]:
    """The primary's spawned apiserver workers (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{primary}/task/{primary}/children").read_text().split()
    pids = set()
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
            pids.add(int(child))
    return pids


def alive(pid: int) -> bool:
    """Whether any thread of the process still runs.

    A SIGKILLed multi-threaded process shows its main thread as a zombie while
    the other threads still exit, and its sockets close only after the last.
    """
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        except FileNotFoundError:
            continue
    return False


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.2)


def start_server(root: Path, etcd: EtcdServer) -> KubelingServer:
    return KubelingServer(
        root,
        etcd_servers=etcd.endpoints,
        extra_args=[*APISERVER_ONLY, "--apiserver-workers", str(WORKERS)],
    ).start()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubelingServer]:
    root = tmp_path_factory.mktemp("workers")
    etcd = EtcdServer(root / "etcd").start()
    server = start_server(root / "server", etcd)
    try:
        wait_until(lambda: listening_sockets(server.port) == WORKERS, 30, f"{WORKERS} listeners")
        yield server
    finally:
        server.stop()
        etcd.stop()


def create(server: KubelingServer, path: str, body: dict) -> dict:
    status, answer = server.request(
        "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    assert status == 201, answer
    return json.loads(answer)


def test_every_worker_listens_on_the_one_port(cluster: KubelingServer) -> None:
    assert listening_sockets(cluster.port) == WORKERS
    assert len(worker_pids(cluster.process.pid)) == WORKERS - 1  # type: ignore[union-attr]


def test_reads_see_writes_made_through_another_worker(cluster: KubelingServer) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    for n in range(40):
        created = create(cluster, path, {"metadata": {"name": f"rw-{n}", "labels": {"set": "rw"}}})
        status, answer = cluster.request("GET", f"{path}/rw-{n}")
        assert status == 200, (n, answer)
        status, answer = cluster.request("GET", f"{path}?labelSelector=set%3Drw")
        names = {item["metadata"]["name"] for item in json.loads(answer)["items"]}
        assert f"rw-{n}" in names, n
        # An update with the resourceVersion one process answered is accepted by any other.
        created["data"] = {"n": str(n)}
        status, answer = cluster.request(
            "PUT", f"{path}/rw-{n}", json.dumps(created).encode(), {"Content-Type": "application/json"}
        )
        assert status == 200, (n, answer)


def test_custom_resources_are_served_by_every_worker(cluster: KubelingServer) -> None:
    crd = schemaless_crd("workers.example.com", "gadgets", "Gadget")
    create(cluster, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    path = "/apis/workers.example.com/v1/namespaces/default/gadgets"

    def all_serve() -> bool:
        # 30 new connections in a row: the chance that one process got all of them is 3 * (1/3)^30.
        return all(cluster.request("GET", path)[0] == 200 for _ in range(30))

    wait_until(all_serve, 15, "every worker serves the new resource")
    for n in range(20):
        create(
            cluster,
            path,
            {"apiVersion": "workers.example.com/v1", "kind": "Gadget", "metadata": {"name": f"g{n}"}},
        )


def test_a_killed_worker_is_started_again(cluster: KubelingServer) -> None:
    primary = cluster.process.pid  # type: ignore[union-attr]
    before = worker_pids(primary)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    # Connections the kernel queued on its socket before it died are reset (a crash
    # costs those); once it is dead, new connections go to the others only.
    wait_until(lambda: not alive(victim), 10, "the killed worker is dead")
    for _ in range(10):
        assert cluster.request("GET", "/api/v1/namespaces/default")[0] == 200
    wait_until(
        lambda: len(worker_pids(primary)) == WORKERS - 1 and listening_sockets(cluster.port) == WORKERS,
        30,
        "a new worker listens in its place",
    )
    assert victim not in worker_pids(primary)


def test_workers_die_with_the_primary_even_on_sigkill(tmp_path: Path) -> None:
    etcd = EtcdServer(tmp_path / "etcd").start()
    server = start_server(tmp_path / "server", etcd)
    try:
        assert server.process is not None
        wait_until(lambda: listening_sockets(server.port) == WORKERS, 30, f"{WORKERS} listeners")
        workers = worker_pids(server.process.pid)
        server.process.kill()
        server.process.wait()
        wait_until(lambda: listening_sockets(server.port) == 0, 15, "no listener left on the port")
        wait_until(lambda: not any(alive(pid) for pid in workers), 15, "workers gone")
    finally:
        server.stop()
        etcd.stop()


def test_several_workers_need_etcd(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeling.cli",
            "server",
            "--data-dir",
            str(tmp_path),
            "--apiserver-workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "several apiserver workers need etcd" in result.stderr
