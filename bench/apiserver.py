"""Benchmark: apiserver throughput and latency against the raw datastore, in one run.

Prints, for etcd and for the embedded SQLite backend:
  - ConfigMap creates/s through the apiserver (64 concurrent clients, 1 KiB data)
  - the raw create-if-absent rate of the same storage client in the same run
  - their ratio (target >= 0.5 on etcd)
  - p50/p99 latency of GET of one object, LIST of 5,000 objects, and watch delivery

Run: .venv/bin/python bench/apiserver.py [--creates 3000] [--list-size 5000]
Everything runs on loopback: a private etcd, kubeling server subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import loadgen

from kubeling.storage.factory import open_storage
from tests.fixtures.etcd import EtcdServer
from tests.fixtures.server import KubelingServer

CONCURRENCY = 64
# The apiserver alone: the all-in-one server's controllers and scheduler would share its CPU.
APISERVER_ONLY = ["--disable-controller-manager", "--disable-scheduler"]
PAYLOAD = "x" * 1024


class CPUMeter:
    """CPU seconds spent by this process and by other processes (and their children)."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    @staticmethod
    def _process_tree_cpu(pid: int) -> float:
        total = 0.0
        for child in [pid, *_descendants(pid)]:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        now = {"load generator": usage.ru_utime + usage.ru_stime}
        for name, pid in self.pids.items():
            now[name] = self._process_tree_cpu(pid)
        return now

    def __enter__(self) -> CPUMeter:
        self._start = self._now()
        return self

    def per_op(self, count: int) -> dict[str, float]:
        """Microseconds of CPU per operation since entering, by process."""
        end = self._now()
        return {name: (end[name] - self._start[name]) / count * 1e6 for name in end}

    def __exit__(self, *_exc: object) -> None:
        pass


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        direct = [int(c) for c in children.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [d for c in direct for d in (c, *_descendants(c))]


def cpu_line(per_op: dict[str, float]) -> str:
    parts = ", ".join(f"{name} {us:.0f}" for name, us in per_op.items())
    return f"{parts}; total {sum(per_op.values()):.0f}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def raw_creates(
    backend: str, count: int, *, etcd: list[str] | None, data_dir: Path, meter: CPUMeter | None = None
) -> tuple[float, dict[str, float]]:
    storage = await open_storage(backend=backend, etcd_servers=etcd, data_dir=str(data_dir))
    value = json.dumps({"data": {"payload": PAYLOAD}}).encode()
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            await storage.create(f"/bench/raw/{n:08d}", value)

    with meter or CPUMeter() as cpu:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
        per_op = cpu.per_op(count)
    await storage.close()
    per_op["client"] = per_op.pop("load generator")
    return count / elapsed, per_op


class Client:
    def __init__(self, server: KubelingServer) -> None:
        self.base = server.url
        self.token = server.token()
        self.headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        self.ssl = server.ssl_context()

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers=self.headers, connector=aiohttp.TCPConnector(ssl=self.ssl, limit=CONCURRENCY * 2)
        )


async def api_creates(
    client: Client, namespace: str, count: int, meter: CPUMeter | None = None
) -> tuple[float, dict[str, float]]:
    """ConfigMap creates/s from CONCURRENCY keep-alive clients, and CPU µs per create by process."""
    async with client.session() as session:
        await session.post(f"{client.base}/api/v1/namespaces", json={"metadata": {"name": namespace}})

    def body(n: int) -> bytes:
        return json.dumps({"metadata": {"name": f"cm-{n:06d}"}, "data": {"payload": PAYLOAD}}).encode()

    with meter or CPUMeter() as cpu:
        start = time.perf_counter()
        await loadgen.post_many(
            client.base,
            f"/api/v1/namespaces/{namespace}/configmaps",
            body,
            count,
            token=client.token,
            ssl_context=client.ssl,
            concurrency=CONCURRENCY,
        )
        elapsed = time.perf_counter() - start
        return count / elapsed, cpu.per_op(count)


async def latencies(client: Client, namespace: str, samples: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    async with client.session() as session:
        url = f"{client.base}/api/v1/namespaces/{namespace}/configmaps"
        gets = []
        for _ in range(samples):
            start = time.perf_counter()
            async with session.get(f"{url}/cm-000001") as r:
                await r.read()
            gets.append(time.perf_counter() - start)
        out["get"] = (percentile(gets, 0.5), percentile(gets, 0.99))
        lists = []
        for _ in range(max(5, samples // 20)):
            start = time.perf_counter()
            async with session.get(url) as r:
                body = await r.read()
            lists.append(time.perf_counter() - start)
        out["list"] = (percentile(lists, 0.5), percentile(lists, 0.99))
        out["list_items"] = (float(len(json.loads(body)["items"])), 0.0)
        delays = []
        async with session.get(
            f"{url}?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Dwatched",
            timeout=aiohttp.ClientTimeout(total=None),
        ) as stream:
            for n in range(max(20, samples // 5)):
                sent = time.perf_counter()
                body = {"metadata": {"name": "watched"}, "data": {"n": str(n)}}
                if n == 0:
                    async with session.post(url, json=body) as r:
                        await r.read()
                else:
                    async with session.patch(
                        f"{url}/watched",
                        data=json.dumps({"data": {"n": str(n)}}),
                        headers={"Content-Type": "application/merge-patch+json"},
                    ) as r:
                        await r.read()
                await stream.content.readline()
                delays.append(time.perf_counter() - sent)
        out["watch"] = (percentile(delays, 0.5), percentile(delays, 0.99))
    return out


async def bench_backend(
    name: str,
    server: KubelingServer,
    creates: int,
    list_size: int,
    raw: tuple[float, dict[str, float]],
    *,
    etcd_pid: int | None = None,
    run: int = 1,
) -> None:
    client = Client(server)
    assert server.process is not None
    pids = {"apiserver": server.process.pid} | ({"etcd": etcd_pid} if etcd_pid else {})
    # Namespaces of their own: several runs may share one etcd.
    rate, cpu = await api_creates(client, f"bench-create-{run}", creates, CPUMeter(**pids))
    await api_creates(client, f"bench-list-{run}", list_size)
    lat = await latencies(client, f"bench-list-{run}", 200)
    raw_rate, raw_cpu = raw
    print(f"\n== {name}")
    print(f"creates/s through apiserver (64 clients, 1 KiB ConfigMaps): {rate:8.0f}")
    print(f"raw storage create-if-absent/s (same client, same run):     {raw_rate:8.0f}")
    print(f"ratio apiserver/raw:                                         {rate / raw_rate:8.2f}")
    print(f"CPU µs per create through the apiserver: {cpu_line(cpu)}")
    print(f"CPU µs per raw create:                   {cpu_line(raw_cpu)}")
    for key in ("get", "list", "watch"):
        p50, p99 = lat[key]
        label = {
            "get": "get one object",
            "list": f"list {int(lat['list_items'][0])} objects",
            "watch": "watch event delivery (write→event)",
        }[key]
        print(f"{label:40s} p50 {p50 * 1000:8.2f} ms   p99 {p99 * 1000:8.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--list-size", type=int, default=5000)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="apiserver processes for the second etcd run (--apiserver-workers); the first has one",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; every process below shares them")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        etcd = EtcdServer(root / "etcd")
        etcd.start()
        assert etcd.process is not None
        etcd_pid = etcd.process.pid
        try:
            raw = await raw_creates(
                "etcd3", args.creates, etcd=etcd.endpoints, data_dir=root, meter=CPUMeter(etcd=etcd_pid)
            )
            for workers in dict.fromkeys((1, args.workers)):
                server = KubelingServer(
                    root / f"on-etcd-{workers}",
                    etcd_servers=etcd.endpoints,
                    extra_args=[*APISERVER_ONLY, "--apiserver-workers", str(workers)],
                ).start()
                try:
                    label = f"etcd, {workers} apiserver process{'es' if workers > 1 else ''}"
                    await bench_backend(
                        label, server, args.creates, args.list_size, raw, etcd_pid=etcd_pid, run=workers
                    )
                finally:
                    server.stop()
        finally:
            etcd.stop()
        raw = await raw_creates("sqlite", args.creates, etcd=None, data_dir=root / "raw-sqlite")
        server = KubelingServer(root / "on-sqlite", extra_args=APISERVER_ONLY).start()
        try:
            await bench_backend("embedded sqlite", server, args.creates, args.list_size, raw)
        finally:
            server.stop()


if __name__ == "__main__":
    import uvloop

    # The servers run on uvloop; so does the load generator (asyncio's own TLS costs it 2x the CPU).
    uvloop.install()
    asyncio.run(main())
