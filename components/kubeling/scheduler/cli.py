"""The ``kubeling scheduler`` subcommand: upstream kube-scheduler's flag names, bound into SchedulerConfig."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r}")


def _duration(value: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in ("ms", "s", "m", "h"):
        head = value[: -len(suffix)]
        if value.endswith(suffix) and head.replace(".", "", 1).isdigit():
            return float(head) * units[suffix]
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {value!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scheduler", help="run the scheduler (kube-scheduler)")
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True)
    p.add_argument("--leader-elect-lease-duration", type=_duration, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=_duration, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=_duration, default=2.0)
    p.add_argument("--leader-elect-resource-namespace", default="kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-scheduler")
    p.add_argument("--scheduler-name", default="default-scheduler")
    p.add_argument("--kube-api-qps", type=float, default=50.0)
    p.add_argument("--kube-api-burst", type=int, default=100)
    p.add_argument(
        "--percentage-of-nodes-to-score", type=int, default=0, help="0 = adaptive, as upstream's default"
    )
    p.set_defaults(run=_run)


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.scheduler.app import SchedulerConfig, run

    config = SchedulerConfig(
        kubeconfig=args.kubeconfig,
        scheduler_name=args.scheduler_name,
        leader_elect=args.leader_elect,
        leader_elect_lease_duration=args.leader_elect_lease_duration,
        leader_elect_renew_deadline=args.leader_elect_renew_deadline,
        leader_elect_retry_period=args.leader_elect_retry_period,
        leader_elect_resource_namespace=args.leader_elect_resource_namespace,
        leader_elect_resource_name=args.leader_elect_resource_name,
        percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
        kube_api_qps=args.kube_api_qps,
        kube_api_burst=args.kube_api_burst,
    )
    task = asyncio.get_running_loop().create_task(run(config))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        return 0
    return 1  # the lease was lost: exit non-zero so the supervisor restarts us
