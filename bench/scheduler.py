"""Benchmark: scheduling 10,000 pods onto 1,000 hollow nodes ("SchedulingBasic").

Prints, from one run:
  - the scheduler's own rate: decisions per second of time spent inside
    scheduling cycles, as CPU time of the scheduler process (what the
    algorithm costs) and as wall time (inflated whenever the other three
    processes take the core), and decisions per second of wall time between
    its first and last decision (bounded by how fast pods arrive);
  - the end-to-end rate: pods per second from the first create to the last
    bound pod (creates and scheduling overlap, as in scheduler_perf);
  - p50/p99 scheduling latency (pod entering the queue -> binding written);
  - the apiserver's raw binding rate measured in the same run (64 clients
    POSTing bindings for pre-created pods), and the ratio e2e / raw;
  - the raw pod create rate of the same phase and the ceiling both give an
    end-to-end run (each pod is one create plus one binding), e2e / ceiling.

Processes (the machine has two cores): the server (no scheduler, no
controllers), the hollow nodes (which register and renew leases but do not
sync pod status, which would cost the apiserver 10k status writes), the
scheduler, and this orchestrator, which creates the pods.

Run: .venv/bin/python bench/scheduler.py [--nodes 1000] [--pods 10000] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet.hollow import LEASES, NODES, HollowNode, HollowNodeConfig
from tests.fixtures.server import KubelingServer

CONCURRENCY = 64
RAW_BINDINGS = 2000
BENCH_NS = "bench"
RAW_NS = "bench-raw"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def pod_body(name: str, scheduler_name: str = "default-scheduler") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": scheduler_name,
            "containers": [
                {"name": "c", "image": "pause", "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}
            ],
        },
    }


# -- roles run in their own processes ------------------------------------------------


async def hollow_role(kubeconfig: str, count: int) -> None:
    """Register nodes and renew their leases; no pod informers (see the module docstring)."""
    client = RESTClient(load_config(kubeconfig), component="bench-hollow", qps=0)
    nodes = [
        HollowNode(
            client,
            HollowNodeConfig(
                name=f"bench-node-{i:04d}",
                pod_cidr=f"10.{(i // 256) + 100}.{i % 256}.0/24",
                node_ip=f"10.1.{i // 256}.{i % 256}",
                cpu="32",
                memory="128Gi",
            ),
        )
        for i in range(count)
    ]
    gate = asyncio.Semaphore(32)

    async def register(node: HollowNode) -> None:
        async with gate:
            await node.register()
            await node.renew_lease()
            # Lift the not-ready taint new Nodes get, as the (disabled) node-lifecycle controller would.
            await client.patch(NODES, {"spec": {"taints": None}}, name=node.config.name)

    await asyncio.gather(*(register(n) for n in nodes))
    print("registered", flush=True)
    # Renew as the kubelet does: PUT the Lease it holds (one write per node per 10 s), no GET.
    leases = {
        n.config.name: await client.get(LEASES, namespace="kube-node-lease", name=n.config.name)
        for n in nodes
    }
    while True:
        await asyncio.sleep(10.0)
        for name, lease in leases.items():
            lease["spec"]["renewTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            async with gate:
                with contextlib.suppress(Exception):
                    leases[name] = await client.update(LEASES, lease, namespace="kube-node-lease", name=name)


class DiscardingSink:
    """An event sink that writes nothing: ``--no-events`` shows what the Events cost the apiserver."""

    async def create(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]:
        return event

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return patch


async def scheduler_role(kubeconfig: str, expect: int, out: str, profile: str, events: bool) -> None:
    from kubeling.client.events import EventRecorder
    from kubeling.scheduler.app import SchedulerConfig, run
    from kubeling.scheduler.scheduler import Scheduler

    client = RESTClient(load_config(kubeconfig), component="kube-scheduler", qps=5000, burst=5000)
    recorder = None if events else EventRecorder(DiscardingSink(), "default-scheduler")
    scheduler = Scheduler(client, recorder=recorder)
    task = asyncio.create_task(run(SchedulerConfig(leader_elect=False), client, scheduler=scheduler))
    while not (scheduler.pods.has_synced() and scheduler.nodes.has_synced()):
        await asyncio.sleep(0.05)
    Path(out + ".ready").write_text("ready")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    while scheduler.stats.bound < expect:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    done_at = time.time()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    stats = scheduler.stats
    Path(out).write_text(
        json.dumps(
            {
                "decisions": stats.decisions,
                "cycle_seconds": stats.cycle_seconds,
                "cycle_cpu_seconds": stats.cycle_cpu_seconds,
                "decision_span": stats.last_decision - stats.first_decision,
                "latencies": list(stats.latencies),
                "bound": stats.bound,
                "bind_errors": stats.bind_errors,
                "done_at": done_at,
            }
        )
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()


# -- the orchestrator ----------------------------------------------------------------


class Api:
    def __init__(self, server: KubelingServer) -> None:
        self.base = server.url
        self.headers = {"Authorization": f"Bearer {server.token()}", "Content-Type": "application/json"}
        self.ssl = server.ssl_context()

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers=self.headers, connector=aiohttp.TCPConnector(ssl=self.ssl, limit=CONCURRENCY * 2)
        )


async def run_workers(items: list[Any], work: Any) -> float:
    """Run ``work(session, item)`` over items with CONCURRENCY workers; return elapsed seconds."""
    queue = list(reversed(items))

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            await work(session, queue.pop())

    started = time.perf_counter()
    async with API.session() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def post(session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> None:
    async with session.post(API.base + path, json=body) as response:
        if response.status >= 300:
            raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")


async def wait_nodes(count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with API.session() as session:
        while time.monotonic() < deadline:
            async with session.get(API.base + "/api/v1/nodes") as response:
                listed = await response.json()
            if len(listed.get("items", [])) >= count:
                return
            await asyncio.sleep(1.0)
    raise TimeoutError(f"{count} nodes did not register in {timeout}s")


async def raw_rates(nodes: int) -> tuple[float, float]:
    """(pod creates/s, bindings/s) straight to the API, each phase alone."""
    names = [f"raw-{i:05d}" for i in range(RAW_BINDINGS)]
    # Pods nobody schedules (another schedulerName), bound by hand to measure the write path alone.
    created = await run_workers(
        names, lambda s, n: post(s, f"/api/v1/namespaces/{RAW_NS}/pods", pod_body(n, "nobody"))
    )

    async def bind(session: aiohttp.ClientSession, index_name: tuple[int, str]) -> None:
        i, name = index_name
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": f"bench-node-{i % nodes:04d}"},
        }
        await post(session, f"/api/v1/namespaces/{RAW_NS}/pods/{name}/binding", body)

    elapsed = await run_workers(list(enumerate(names)), bind)
    return RAW_BINDINGS / created, RAW_BINDINGS / elapsed


API: Api


async def orchestrate(args: argparse.Namespace) -> None:
    global API
    folder = Path(tempfile.mkdtemp(prefix="kubeling-bench-scheduler-"))
    server = KubelingServer(
        folder / "server", extra_args=["--disable-controller-manager", "--disable-scheduler"]
    ).start()
    API = Api(server)
    children: list[subprocess.Popen[bytes]] = []
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        async with API.session() as session:
            for ns in (BENCH_NS, RAW_NS):
                await post(session, "/api/v1/namespaces", {"metadata": {"name": ns}})
        children.append(
            subprocess.Popen(
                [*me, "--role", "hollow", "--kubeconfig", str(server.kubeconfig), "--nodes", str(args.nodes)],
                stdout=subprocess.DEVNULL,
            )
        )
        started = time.perf_counter()
        await wait_nodes(args.nodes, timeout=300)
        print(f"{args.nodes} hollow nodes registered in {time.perf_counter() - started:.1f}s", flush=True)

        raw_create, raw = await raw_rates(args.nodes)
        print(f"raw pod creates: {raw_create:.0f}/s, raw binding writes: {raw:.0f}/s", flush=True)

        out = str(folder / "stats.json")
        scheduler_cmd = [
            *me,
            "--role",
            "scheduler",
            "--kubeconfig",
            str(server.kubeconfig),
            "--pods",
            str(args.pods),
            "--out",
            out,
        ]
        if args.profile:
            scheduler_cmd += ["--profile", args.profile]
        if args.no_events:
            scheduler_cmd += ["--no-events"]
        children.append(subprocess.Popen(scheduler_cmd))
        while not Path(out + ".ready").exists():
            if children[-1].poll() is not None:
                raise RuntimeError("the scheduler exited early")
            await asyncio.sleep(0.1)

        names = [f"pod-{i:05d}" for i in range(args.pods)]
        create_start = time.time()
        create_seconds = await run_workers(
            names, lambda s, n: post(s, f"/api/v1/namespaces/{BENCH_NS}/pods", pod_body(n))
        )
        print(
            f"created {args.pods} pods in {create_seconds:.1f}s ({args.pods / create_seconds:.0f}/s)",
            flush=True,
        )
        deadline = time.monotonic() + args.timeout
        while not Path(out).exists():
            if children[-1].poll() is not None and not Path(out).exists():
                raise RuntimeError("the scheduler exited before binding every pod")
            if time.monotonic() > deadline:
                raise TimeoutError("pods were not all bound in time")
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.2)
        stats = json.loads(Path(out).read_text())
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        server.stop()

    e2e = stats["bound"] / (stats["done_at"] - create_start)
    own_cycle = stats["decisions"] / stats["cycle_seconds"]
    own_cpu = stats["decisions"] / stats["cycle_cpu_seconds"]
    own_wall = stats["decisions"] / max(stats["decision_span"], 1e-9)
    latencies = stats["latencies"]
    print()
    events = "without Events" if args.no_events else "with Scheduled Events"
    print(f"SchedulingBasic: {args.pods} pods (10m cpu, 10Mi) onto {args.nodes} hollow nodes, {events}")
    print(f"  scheduler's own rate (decisions / CPU time in scheduling cycles):  {own_cpu:8.0f} pods/s")
    print(f"  scheduler's own rate (decisions / wall time in scheduling cycles): {own_cycle:8.0f} pods/s")
    print(f"  scheduler's decision rate (first -> last decision, wall):          {own_wall:8.0f} pods/s")
    print(f"  end-to-end (first create -> last bound):                           {e2e:8.0f} pods/s")
    print(
        f"  scheduling latency (queue -> bound): p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
    )
    print(f"  apiserver raw binding writes:                                      {raw:8.0f} /s")
    print(f"  ratio e2e / raw binding rate:                                      {e2e / raw:8.2f}")
    # Every pod costs the apiserver one create and one binding: that caps e2e whatever the scheduler does.
    ceiling = 1 / (1 / raw_create + 1 / raw)
    print(f"  apiserver raw pod creates:                                         {raw_create:8.0f} /s")
    print(f"  apiserver ceiling for create+bind (1/(1/creates + 1/bindings)):    {ceiling:8.0f} pods/s")
    print(f"  ratio e2e / that ceiling:                                          {e2e / ceiling:8.2f}")
    print(f"  bind errors: {stats['bind_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=("main", "hollow", "scheduler"), default="main")
    parser.add_argument("--kubeconfig", default="")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--out", default="")
    parser.add_argument("--profile", default="", help="write a cProfile of the scheduler process here")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--no-events", action="store_true", help="the scheduler writes no Events (comparison)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.role == "hollow":
        asyncio.run(hollow_role(args.kubeconfig, args.nodes))
    elif args.role == "scheduler":
        asyncio.run(scheduler_role(args.kubeconfig, args.pods, args.out, args.profile, not args.no_events))
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
