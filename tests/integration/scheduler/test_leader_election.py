"""Two schedulers, one lease: killing the leader (SIGKILL, no release) lets the standby take over."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import aiohttp
import pytest

from kubeling.api import errors
from kubeling.client.paths import StaticResource
from kubeling.scheduler.app import SchedulerConfig, run
from kubeling.scheduler.scheduler import Scheduler
from tests.fixtures.server import free_port
from tests.integration.scheduler.conftest import Cluster, eventually, pod_spec, repo_root

pytestmark = pytest.mark.integration

LEASES = StaticResource("coordination.k8s.io", "v1", "leases")
LEASE_SECONDS = 4.0


async def holder(cluster: Cluster) -> str:
    try:
        lease = await cluster.client.get(LEASES, namespace="kube-system", name="kube-scheduler")
    except errors.StatusError:
        return ""
    return lease["spec"].get("holderIdentity") or ""


async def test_standby_takes_over_when_the_leader_dies(cluster: Cluster) -> None:
    await cluster.add_node("le-a")
    await cluster.add_node("le-b")
    health_port = free_port()
    leader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeling.cli",
            "scheduler",
            f"--kubeconfig={cluster.server.kubeconfig}",
            "--leader-elect=true",
            f"--leader-elect-lease-duration={LEASE_SECONDS}s",
            "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=500ms",
            "--bind-address=127.0.0.1",
            f"--secure-port={health_port}",
        ],
        cwd=repo_root(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    standby_task = None
    try:
        first = await eventually(lambda: holder(cluster), timeout=20, what="a leader")
        assert first != "standby"
        # The leader's health endpoint as a liveness probe sees it (HTTPS; 10259 by default).
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{health_port}/healthz?verbose"
            async with session.get(url, ssl=False) as answer:
                assert answer.status == 200
                assert "[+]leaderElection ok" in await answer.text()
        config = SchedulerConfig(
            leader_elect=True,
            identity="standby",
            leader_elect_lease_duration=LEASE_SECONDS,
            leader_elect_renew_deadline=3.0,
            leader_elect_retry_period=0.5,
        )
        standby = Scheduler(cluster.client)
        standby_task = asyncio.create_task(run(config, cluster.client, scheduler=standby))
        await cluster.create(pod_spec("before"))
        assert await cluster.node_of("before") in {"le-a", "le-b"}
        assert standby.stats.decisions == 0  # the follower never schedules

        leader.send_signal(signal.SIGKILL)  # no chance to release the lease
        leader.wait(timeout=10)
        killed_at = time.monotonic()
        await cluster.create(pod_spec("after"))
        assert await cluster.node_of("after", timeout=LEASE_SECONDS + 10) in {"le-a", "le-b"}
        took = time.monotonic() - killed_at
        assert await holder(cluster) == "standby"
        assert standby.stats.decisions == 1
        assert took < LEASE_SECONDS + 3, f"takeover took {took:.1f}s"
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
        if standby_task is not None:
            standby_task.cancel()
            await asyncio.gather(standby_task, return_exceptions=True)
