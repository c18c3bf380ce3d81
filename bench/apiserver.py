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
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeling.storage.factory import open_storage
from tests.fixtures.etcd import EtcdServer
from tests.fixtures.server import KubelingServer

CONCURRENCY = 64
# The apiserver alone: the all-in-one server's controllers and scheduler would share its CPU.
APISERVER_ONLY = ["--disable-controller-manager", "--disable-scheduler"]
PAYLOAD = "x" * 1024


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def raw_creates(backend: str, count: int, *, etcd: list[str] | None, data_dir: Path) -> float:
    storage = await open_storage(backend=backend, etcd_servers=etcd, data_dir=str(data_dir))
    value = json.dumps({"data": {"payload": PAYLOAD}}).encode()
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            await storage.create(f"/bench/raw/{n:08d}", value)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    await storage.close()
    return count / elapsed


class Client:
    def __init__(self, server: KubelingServer) -> None:
        self.base = server.url
        self.headers = {"Authorization": f"Bearer {server.token()}", "Content-Type": "application/json"}
        self.ssl = server.ssl_context()

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers=self.headers, connector=aiohttp.TCPConnector(ssl=self.ssl, limit=CONCURRENCY * 2)
        )


async def api_creates(client: Client, namespace: str, count: int) -> float:
    queue = list(range(count))
    async with client.session() as session:
        await session.post(f"{client.base}/api/v1/namespaces", json={"metadata": {"name": namespace}})

        async def worker() -> None:
            while queue:
                n = queue.pop()
                body = {"metadata": {"name": f"cm-{n:06d}"}, "data": {"payload": PAYLOAD}}
                async with session.post(
                    f"{client.base}/api/v1/namespaces/{namespace}/configmaps", json=body
                ) as r:
                    if r.status != 201:
                        raise RuntimeError(f"create failed: {r.status} {await r.text()}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - start)


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
    name: str, server: KubelingServer, creates: int, list_size: int, raw_rate: float
) -> None:
    client = Client(server)
    rate = await api_creates(client, "bench-create", creates)
    await api_creates(client, "bench-list", list_size)
    lat = await latencies(client, "bench-list", 200)
    print(f"\n== {name}")
    print(f"creates/s through apiserver (64 clients, 1 KiB ConfigMaps): {rate:8.0f}")
    print(f"raw storage create-if-absent/s (same client, same run):     {raw_rate:8.0f}")
    print(f"ratio apiserver/raw:                                         {rate / raw_rate:8.2f}")
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        etcd = EtcdServer(root / "etcd")
        etcd.start()
        try:
            raw = await raw_creates("etcd3", args.creates, etcd=etcd.endpoints, data_dir=root)
            server = KubelingServer(
                root / "on-etcd", etcd_servers=etcd.endpoints, extra_args=APISERVER_ONLY
            ).start()
            try:
                await bench_backend("etcd", server, args.creates, args.list_size, raw)
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
    asyncio.run(main())
