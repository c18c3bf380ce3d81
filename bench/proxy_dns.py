"""Benchmarks of the Service datapath's two halves: kube-proxy and cluster DNS.

Each section is a function taking the parsed arguments; ``--sections``
picks which run (default: all).  Figures are printed by the run, never kept
here.

proxy: ``--services`` NodePort Services with ``--endpoints`` endpoints
each (Service and EndpointSlice objects fed to the proxier's handlers, as
its informers would), synced into a private network namespace.  It prints
the time to build the rule text alone, a full sync (iptables-save, build,
iptables-restore), and, as the reference, the raw ``iptables-restore`` of
the very same text into the same empty tables, with the ratio; then a
partial sync after one service's endpoints changed.

dns: a real server (embedded datastore, no controllers) holds ``--services``
ClusterIP Services; ``kubeling dns`` runs as its own process with informers
fed by that apiserver; this process is the client: one UDP socket keeping
``--window`` queries in flight (A queries for random service names, packed
once, matched by ID), ``--queries`` in all.  It prints queries/s, p50/p99
latency under that load and one at a time, the rate when every query's bytes
are new (0x20 case-randomised names, so no memoised answer helps: each is
parsed, looked up and packed), and, as the reference, dnslib's
raw rate of decoding the same queries and encoding the same answers (the
least a dnslib-based server does per query), with the ratio.

Run: .venv/bin/python bench/proxy_dns.py [--sections proxy,dns] [--services 1000] [--queries 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnslib import DNSRecord

from kubeling.client.kubeconfig import load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.proxy.iptables import IPTables
from kubeling.proxy.proxier import Proxier, ProxierOptions
from kubeling.proxy.rules import RuleOptions, build_rules
from tests.fixtures.server import REPO, KubelingServer, free_port

SERVICES = StaticResource("", "v1", "services")
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)
DNS_NS = "bench-dns"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


# -- proxy --------------------------------------------------------------------------------


def _service(i: int) -> dict:
    return {
        "metadata": {"namespace": "bench", "name": f"svc-{i}"},
        "spec": {
            "type": "NodePort",
            "clusterIP": f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30000 + i % 2768}],
        },
    }


def _slice(i: int, endpoints: int, generation: int = 0) -> dict:
    def address(n: int) -> str:
        return f"10.{128 + generation}.{n // 256 % 256}.{n % 256}"

    return {
        "metadata": {
            "namespace": "bench",
            "name": f"svc-{i}-1",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [address(i * endpoints + e)],
                "conditions": {"ready": True},
                "nodeName": f"node-{e % 3}",
            }
            for e in range(endpoints)
        ],
    }


def _netns(*argv: str) -> None:
    subprocess.run(["ip", "netns", *argv], check=True, capture_output=True)


def proxy(args: argparse.Namespace) -> None:
    namespace = f"kbl-px-bench-{secrets.token_hex(3)}"
    _netns("add", namespace)
    iptables = IPTables(prefix=["ip", "netns", "exec", namespace])
    try:
        asyncio.run(_proxy(args, iptables))
    finally:
        _netns("del", namespace)  # its tables go with it


async def _proxy(args: argparse.Namespace, iptables: IPTables) -> None:
    proxier = Proxier(ProxierOptions(node_name="node-0", cluster_cidr="10.128.0.0/9"), iptables=iptables)
    for i in range(args.services):
        proxier.on_service(_service(i))
        proxier.on_slice(_slice(i, args.endpoints))
    services = {k: v for ports in proxier.services.values() for k, v in ports.items()}
    endpoints = {k: v for eps in proxier.endpoints.values() for k, v in eps.items()}
    started = time.perf_counter()
    text = build_rules(services, endpoints, RuleOptions(cluster_cidr="10.128.0.0/9")).text
    build = time.perf_counter() - started
    lines = text.count("\n")
    print(f"proxy: {args.services} services x {args.endpoints} endpoints: {lines:,} restore lines")

    raw, full, partial = [], [], []
    for round_ in range(args.rounds):
        await iptables.cleanup()
        started = time.perf_counter()
        await iptables.restore(text)
        raw.append(time.perf_counter() - started)
        await iptables.cleanup()
        proxier.need_full_sync = True
        result = await proxier.sync()
        assert result.ok and result.full
        full.append(result.seconds)
        changed = round_ % args.services
        proxier.on_slice(_slice(changed, args.endpoints, generation=1 + round_ % 2))
        result = await proxier.sync()
        assert result.ok and not result.full
        partial.append(result.seconds)
    raw_s, full_s, partial_s = (statistics.median(v) for v in (raw, full, partial))
    print(f"proxy: build rule text {build * 1e3:.0f} ms")
    print(
        f"proxy: full sync {full_s * 1e3:.0f} ms, raw iptables-restore of the same text {raw_s * 1e3:.0f} ms "
        f"(median of {args.rounds}); full sync / raw restore = {full_s / raw_s:.2f}"
    )
    print(
        f"proxy: partial sync (one service changed) {partial_s * 1e3:.0f} ms "
        f"= {partial_s / full_s:.2f} of a full one"
    )
    summary = {
        "section": "proxy",
        "build_ms": round(build * 1e3),
        "full_sync_ms": round(full_s * 1e3),
        "raw_restore_ms": round(raw_s * 1e3),
        "partial_sync_ms": round(partial_s * 1e3),
    }
    print(json.dumps(summary))


# -- dns ----------------------------------------------------------------------------------


async def _create_services(kubeconfig: Path, count: int) -> None:
    client = RESTClient(load_config(kubeconfig), component="bench-dns", qps=0)
    try:
        await client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DNS_NS}}
        )
        pending = iter(range(count))

        async def worker() -> None:
            for i in pending:
                body = {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"svc-{i}"},
                    "spec": {"ports": [{"name": "http", "port": 80}]},
                }
                await client.create(SERVICES, body, namespace=DNS_NS)

        await asyncio.gather(*(worker() for _ in range(32)))
    finally:
        await client.close()


class _LoadClient(asyncio.DatagramProtocol):
    """Keeps ``window`` queries in flight until ``total`` were answered (or given up after 1 s)."""

    def __init__(self, queries: list[bytes], total: int, window: int) -> None:
        self.queries, self.total, self.window = queries, total, window
        self.latencies: list[float] = []
        self.lost = 0
        self.sent = 0
        self.inflight: dict[int, float] = {}
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for _ in range(self.window):
            self._send()

    def _send(self) -> None:
        if self.sent >= self.total or self.transport is None:
            return
        query_id = self.sent & 0xFFFF
        query = self.queries[self.sent % len(self.queries)]
        self.sent += 1
        self.inflight[query_id] = time.perf_counter()
        self.transport.sendto(query_id.to_bytes(2, "big") + query[2:])

    def datagram_received(self, data: bytes, addr: object) -> None:
        started = self.inflight.pop(int.from_bytes(data[:2], "big"), None)
        if started is None:
            return
        self.latencies.append(time.perf_counter() - started)
        self._finish_or_send()

    def _finish_or_send(self) -> None:
        if len(self.latencies) + self.lost >= self.total:
            if not self.done.done():
                self.done.set_result(None)
            return
        self._send()

    def expire(self) -> None:
        now = time.perf_counter()
        for query_id, started in list(self.inflight.items()):
            if now - started > 1.0:
                del self.inflight[query_id]
                self.lost += 1
                self._finish_or_send()


async def _load(port: int, queries: list[bytes], total: int, window: int) -> tuple[float, list[float], int]:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    transport, client = await loop.create_datagram_endpoint(
        lambda: _LoadClient(queries, total, window), remote_addr=("127.0.0.1", port)
    )
    try:
        while not client.done.done():
            await asyncio.wait([client.done], timeout=0.25)
            client.expire()
    finally:
        transport.close()
    return time.perf_counter() - started, client.latencies, client.lost


def _random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def _raw_dnslib_rate(queries: list[bytes], answers: list[bytes], rounds: int) -> float:
    parsed_answers = [DNSRecord.parse(a) for a in answers]
    started = time.perf_counter()
    for i in range(rounds):
        DNSRecord.parse(queries[i % len(queries)])
        parsed_answers[i % len(parsed_answers)].pack()
    return rounds / (time.perf_counter() - started)


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError("kubeling dns exited early")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("kubeling dns not ready in time")


def dns(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp:
        server = KubelingServer(
            Path(tmp) / "server", extra_args=["--disable-controller-manager", "--disable-scheduler"]
        ).start()
        process: subprocess.Popen[bytes] | None = None
        try:
            started = time.perf_counter()
            asyncio.run(_create_services(server.kubeconfig, args.services))
            print(f"dns: created {args.services} Services in {time.perf_counter() - started:.1f}s")
            port, ready_port = free_port(), free_port()
            command = [
                sys.executable, "-m", "kubeling.cli", "dns", "--kubeconfig", str(server.kubeconfig),
                "--bind-address", "127.0.0.1", "--port", str(port), "--upstream", "127.0.0.1:9",
                "--health-port", "0", "--metrics-port", "0", "--ready-port", str(ready_port),
            ]  # fmt: skip
            log = (Path(tmp) / "dns.log").open("ab")
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            print(f"dns: kubeling dns ready (informers synced) after {_wait_ready(ready_port, process):.2f}s")

            names = [f"svc-{i}.{DNS_NS}.svc.cluster.local" for i in range(args.services)]
            rng = random.Random(1)
            rng.shuffle(names)
            queries = [DNSRecord.question(name).pack() for name in names]
            answers = [DNSRecord.question(name).send("127.0.0.1", port, timeout=5) for name in names[:200]]
            assert all(DNSRecord.parse(a).rr for a in answers), "a service name did not resolve"

            elapsed, latencies, lost = asyncio.run(_load(port, queries, args.queries, args.window))
            rate = len(latencies) / elapsed
            _, single, _ = asyncio.run(_load(port, queries, min(args.queries, 2000), 1))
            # 0x20 case randomisation makes every query's bytes new: no memoised answer, the full path.
            mixed = [DNSRecord.question(_random_case(name, rng)).pack() for name in names for _ in range(8)]
            cold_elapsed, cold, _ = asyncio.run(
                _load(port, mixed, min(args.queries, len(mixed)), args.window)
            )
            cold_rate = len(cold) / cold_elapsed
            raw = _raw_dnslib_rate(queries, answers, 20000)
            p50, p99 = percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
            one_p50, one_p99 = percentile(single, 0.5) * 1e3, percentile(single, 0.99) * 1e3
            print(
                f"dns: {len(latencies)} queries in {elapsed:.2f}s = {rate:,.0f} queries/s "
                f"(window {args.window}, {lost} lost); under load p50 {p50:.2f} ms p99 {p99:.2f} ms; "
                f"one at a time p50 {one_p50:.2f} ms p99 {one_p99:.2f} ms"
            )
            print(
                f"dns: case-randomised names (every answer built and packed): {cold_rate:,.0f} queries/s, "
                f"p99 {percentile(cold, 0.99) * 1e3:.2f} ms"
            )
            print(
                f"dns: dnslib raw decode(query)+encode(answer) {raw:,.0f}/s; "
                f"server / raw = {rate / raw:.2f}, full path / raw = {cold_rate / raw:.2f}"
            )
            summary = {
                "section": "dns",
                "qps": round(rate),
                "qps_full_path": round(cold_rate),
                "raw": round(raw),
            }
            print(json.dumps(summary))
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
            server.stop()


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"proxy": proxy, "dns": dns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}"
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10, help="endpoints per service (proxy)")
    parser.add_argument("--rounds", type=int, default=3, help="proxy syncs measured (median)")
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--window", type=int, default=32, help="DNS queries kept in flight")
    args = parser.parse_args()
    for name in args.sections.split(","):
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; known: {', '.join(SECTIONS)}")
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
