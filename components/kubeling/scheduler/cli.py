"""The ``kubeling scheduler`` subcommand: upstream kube-scheduler's flag names, bound into SchedulerConfig."""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.flags import boolean, duration
from kubeling.signals import until_signalled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scheduler", help="run the scheduler (kube-scheduler)")
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--leader-elect", type=boolean, nargs="?", const=True, default=True)
    p.add_argument("--leader-elect-lease-duration", type=duration, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=duration, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=duration, default=2.0)
    p.add_argument("--leader-elect-resource-namespace", default="kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-scheduler")
    p.add_argument("--scheduler-name", default="default-scheduler")
    p.add_argument("--bind-address", default="0.0.0.0", help="address of the health endpoints")
    p.add_argument("--secure-port", type=int, default=10259, help="HTTPS port of /healthz; 0 disables it")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    p.add_argument("--cert-dir", default="", help="where a self-signed serving pair is kept")
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
        bind_address=args.bind_address,
        secure_port=args.secure_port,
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        cert_dir=args.cert_dir,
    )
    return await until_signalled(run(config))
