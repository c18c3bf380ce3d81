"""Benchmark: pod startup latency on one real node (kubelet on the Docker Engine), images present.

Prints, from one run:
  - create -> Running latency p50/p99/max over N pods (default 30) created at once
    (or at --rate pods/s),
    "Running" being the first watch event that shows phase Running (upstream's
    pod startup SLO: p99 <= 5 s; kubeling's target: <= 3 s);
  - the references, in the same run: the raw `docker run` (create + start of the
    same busybox image with --network none, sequentially) p50/p99, and N pause +
    app pairs (the app joining the pause container's network and IPC, as a pod's
    containers do) run all at once in parallel threads — the floor for N pods on
    this machine — with the ratio kubelet p99 / parallel-pairs p99.

Processes: a private `kubeling server` (controllers and scheduler on; its
--cluster-cidr is a free 10.244.X.0/24 so node-ipam gives the node exactly
that range) and this process, which runs the Kubelet in-process on a
DockerRuntime whose label keeps it away from every other container on the
engine, on a CNI bridge of its own, torn down afterwards.

Run: .venv/bin/python bench/pod_startup.py [--pods 30] [--rate 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet import images
from kubeling.kubelet.cni import CNINetwork
from kubeling.kubelet.config import KubeletConfig
from kubeling.kubelet.docker import DockerRuntime
from kubeling.kubelet.kubelet import NODES, PODS, Kubelet
from tests.fixtures.server import KubelingServer

NAMESPACE = "default"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def free_pod_cidr() -> str:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    for x in range(199, 150, -1):
        if f"10.244.{x}." not in routes:
            return f"10.244.{x}.0/24"
    raise SystemExit("no free 10.244.x.0/24")


def raw_docker_runs(count: int) -> list[float]:
    """Seconds from create to started for `docker run -d --network none busybox sleep`."""
    client = docker.from_env(timeout=60)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            container = client.containers.run(
                images.BUSYBOX_IMAGE,
                ["sleep", "60"],
                detach=True,
                network_mode="none",
                labels={"bench": "raw"},
            )
            times.append(time.perf_counter() - started)
            container.remove(force=True)
    finally:
        client.close()
    return times


def raw_parallel_pairs(count: int) -> list[float]:
    """Seconds from the common start to each pair running: `count` pause + app pairs, all at once."""
    client = docker.from_env(timeout=120, max_pool_size=count + 2)  # one connection per thread
    label = {"bench": f"raw-pairs-{uuid.uuid4().hex[:8]}"}

    def pair(started: float) -> float:
        pause = client.containers.run(
            images.PAUSE_IMAGE, detach=True, network_mode="none", ipc_mode="shareable", labels=label
        )
        client.containers.run(
            images.BUSYBOX_IMAGE,
            ["sleep", "60"],
            detach=True,
            network_mode=f"container:{pause.id}",
            ipc_mode=f"container:{pause.id}",
            labels=label,
        )
        return time.perf_counter() - started

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            started = time.perf_counter()
            return list(pool.map(pair, [started] * count))
    finally:
        for container in client.containers.list(all=True, filters={"label": f"bench={label['bench']}"}):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        client.close()


async def wait_node_ready(client: RESTClient, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            node = await client.get(NODES, name=name)
            if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"]):
                return
        await asyncio.sleep(0.2)
    raise SystemExit("node not Ready in time")


async def measure(client: RESTClient, count: int, prefix: str, rate: float) -> list[float]:
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    done = asyncio.Event()

    def seen(pod: dict) -> None:
        name = pod["metadata"]["name"]
        if name.startswith(prefix) and pod.get("status", {}).get("phase") == "Running":
            running.setdefault(name, time.perf_counter())
            if len(running) == count:
                done.set()

    async def watch() -> None:
        while not done.is_set():  # the server ends watches now and then: list again, watch on
            listed = await client.list(PODS, namespace=NAMESPACE)
            for pod in listed["items"]:
                seen(pod)
            version = listed["metadata"]["resourceVersion"]
            async for kind, pod in client.watch(PODS, namespace=NAMESPACE, resource_version=version):
                if kind != "BOOKMARK":
                    seen(pod)
                if done.is_set():
                    return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.2)

    async def create(i: int) -> None:
        name = f"{prefix}{i}"
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": images.BUSYBOX_IMAGE, "command": ["sleep", "3600"]}],
            },
        }
        created[name] = time.perf_counter()
        await client.create(PODS, body, namespace=NAMESPACE)

    if rate > 0:  # a steady arrival rate, as upstream's density tests create pods
        for i in range(count):
            await create(i)
            await asyncio.sleep(1 / rate)
    else:
        await asyncio.gather(*(create(i) for i in range(count)))
    try:
        await asyncio.wait_for(done.wait(), 120)
    except TimeoutError:
        if watcher.done() and not watcher.cancelled():
            print("watch ended:", repr(watcher.exception()))
        missing = sorted(set(created) - set(running))
        print(f"not Running after 120 s: {missing}")
        for name in missing[:3]:
            pod = await client.get(PODS, namespace=NAMESPACE, name=name)
            print(name, pod.get("spec", {}).get("nodeName"), pod.get("status"))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    return [running[name] - created[name] for name in created if name in running]


async def main(args: argparse.Namespace) -> None:
    await asyncio.to_thread(images.ensure_images)
    work = Path(tempfile.mkdtemp(prefix="kubeling-bench-pods-"))
    cidr = free_pod_cidr()
    tag = f"{os.getpid() % 100000}"
    cni = CNINetwork(
        str(work / "net.d"),
        "/usr/lib/cni",
        str(work / "cni-cache"),
        network_name=f"kubeling-bench-{tag}",
        bridge=f"kbb{tag}",
        ipam_data_dir=str(work / "ipam"),
    )
    label = {"io.kubeling.bench": uuid.uuid4().hex[:12]}
    runtime = DockerRuntime(cni, root_dir=str(work / "kubelet"), labels=label)
    server = KubelingServer(work / "server", extra_args=["--cluster-cidr", cidr]).start()
    admin = RESTClient(load_config(str(server.kubeconfig)), component="bench")
    node_client = RESTClient(load_config(str(server.data_dir / "kubelet.kubeconfig")), component="kubelet")
    config = KubeletConfig(
        hostname_override=socket.gethostname().lower(),
        root_dir=str(work / "kubelet"),
        cluster_dns=["10.96.0.10"],
        port=0,
        client_ca_file=str(server.data_dir / "pki" / "ca.crt"),
        container_log_dir=str(work / "log" / "containers"),
    )
    kubelet = Kubelet(config, node_client, runtime)
    task = asyncio.create_task(kubelet.run())
    try:
        await wait_node_ready(admin, config.node_name)
        raw = await asyncio.to_thread(raw_docker_runs, 10)
        latencies = await measure(admin, args.pods, "startup-", args.rate)
        how = f"at {args.rate:g} pods/s" if args.rate > 0 else "all at once"
        print(f"pods: {len(latencies)}/{args.pods} Running (created {how})")
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"create -> Running (watch): p50 {p50:.2f}s  p99 {p99:.2f}s  max {max(latencies):.2f}s")
        raw50, raw99 = percentile(raw, 0.5), percentile(raw, 0.99)
        print(f"raw docker run (create+start, sequential): p50 {raw50:.2f}s  p99 {raw99:.2f}s")
        pairs = await asyncio.to_thread(raw_parallel_pairs, args.pods)
        pairs50, pairs99 = percentile(pairs, 0.5), percentile(pairs, 0.99)
        print(f"raw pause+app pairs, {args.pods} in parallel: p50 {pairs50:.2f}s  p99 {pairs99:.2f}s")
        print(f"ratio kubelet p99 / parallel pairs p99: {p99 / pairs99:.2f}")
    finally:
        pods = (await admin.list(PODS, namespace=NAMESPACE))["items"]
        for pod in pods:
            with contextlib.suppress(Exception):
                await admin.delete(
                    PODS, namespace=NAMESPACE, name=pod["metadata"]["name"], grace_period_seconds=0
                )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and await runtime.list_sandboxes():
            await asyncio.sleep(0.5)  # the kubelet removes what the deleted pods left
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        for pod_dir in (work / "kubelet" / "pods").glob("*"):
            await kubelet.syncer.ctx.volumes.teardown(pod_dir.name)
        for sandbox in await runtime.list_sandboxes():
            await runtime.stop_sandbox(sandbox.id)
            await runtime.remove_sandbox(sandbox.id)
        leftovers = await asyncio.to_thread(
            runtime.api.containers, all=True, filters={"label": [f"{k}={v}" for k, v in label.items()]}
        )
        for container in leftovers:
            await asyncio.to_thread(runtime.api.remove_container, container["Id"], force=True)
        runtime.close()
        await cni.garbage_collect(set())
        await cni.teardown(cni.bridge)
        await admin.close()
        await node_client.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--rate", type=float, default=0.0, help="pods created per second; 0: all at once")
    asyncio.run(main(parser.parse_args()))
