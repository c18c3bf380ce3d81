"""``kubeling scheduler``: the scheduler daemon, led by one replica at a time.

As upstream's kube-scheduler, every replica starts its informers at once (so
a standby's cache is warm), then campaigns for the Lease
``kube-system/kube-scheduler``; only the leader runs the scheduling loop.
Losing the lease stops the loop and ends :func:`run` (the process exits and
its supervisor restarts it, so no stale decisions are made).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from dataclasses import dataclass

from kubeling.client.kubeconfig import load_config
from kubeling.client.leaderelection import LeaderElector, RESTLeaseClient
from kubeling.client.rest import RESTClient
from kubeling.health import HealthServer
from kubeling.scheduler.scheduler import DEFAULT_SCHEDULER_NAME, Scheduler

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-scheduler"


@dataclass
class SchedulerConfig:
    kubeconfig: str | None = None
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    leader_elect_resource_namespace: str = LEASE_NAMESPACE
    leader_elect_resource_name: str = LEASE_NAME
    percentage_of_nodes_to_score: int = 0  # 0: upstream's adaptive default
    kube_api_qps: float = 50.0
    kube_api_burst: int = 100
    identity: str = ""
    bind_address: str = "0.0.0.0"
    # /healthz, /livez, /readyz over HTTPS; 0 (the default when embedded) serves none.
    # The command line's default is upstream's port, 10259.
    secure_port: int = 0
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    cert_dir: str = ""


async def run(
    config: SchedulerConfig, client: RESTClient | None = None, *, scheduler: Scheduler | None = None
) -> None:
    """Run until cancelled, or until leadership is lost (then return)."""
    own_client = client is None
    if client is None:
        client = RESTClient(
            load_config(config.kubeconfig),
            component="kube-scheduler",
            qps=config.kube_api_qps,
            burst=config.kube_api_burst,
        )
    scheduler = scheduler or Scheduler(
        client,
        scheduler_name=config.scheduler_name,
        percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
    )
    identity = config.identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    elector: LeaderElector | None = None
    if config.leader_elect:
        elector = LeaderElector(
            RESTLeaseClient(client),
            config.leader_elect_resource_namespace,
            config.leader_elect_resource_name,
            identity,
            lease_duration=config.leader_elect_lease_duration,
            renew_deadline=config.leader_elect_renew_deadline,
            retry_period=config.leader_elect_retry_period,
            on_started_leading=scheduler.run,
            on_new_leader=lambda who: log.info("new scheduler leader: %s", who),
        )
    health = HealthServer(
        bind_address=config.bind_address,
        port=config.secure_port,
        checks={"leaderElection": elector.check} if elector else {},
        tls_cert_file=config.tls_cert_file,
        tls_private_key_file=config.tls_private_key_file,
        cert_dir=config.cert_dir,
    )
    try:
        await health.start()
        await scheduler.start_informers()
        if elector is None:
            await scheduler.run()
            return
        await elector.run()
        log.warning("scheduler %s lost its lease: stopping", identity)
    finally:
        await health.stop()
        await scheduler.stop()
        if own_client:
            await client.close()


def main_task(config: SchedulerConfig) -> asyncio.Task[None]:
    """``run(config)`` as a task on the running loop (for embedding)."""
    return asyncio.get_running_loop().create_task(run(config), name="kube-scheduler")
