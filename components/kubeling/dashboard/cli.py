"""``kubeling dashboard``: the web UI, bound into DashboardConfig."""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.dashboard.config import DashboardConfig
from kubeling.flags import duration
from kubeling.signals import until_signalled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="serve the web dashboard (every API call made as the user)")
    p.add_argument("--kubeconfig", default="", help="its own identity for metrics; default: in-cluster")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--port", type=int, default=9090, help="plain HTTP port")
    p.add_argument("--metric-resolution", type=duration, default=15.0, help="metrics sampling interval")
    p.add_argument("--metric-window", type=duration, default=900.0, help="how far back the plots go")
    p.add_argument("--session-idle-timeout", type=duration, default=8 * 3600.0)
    p.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace) -> DashboardConfig:
    return DashboardConfig(
        kubeconfig=args.kubeconfig,
        bind_address=args.bind_address,
        port=args.port,
        metric_resolution=args.metric_resolution,
        metric_window=args.metric_window,
        session_idle_timeout=args.session_idle_timeout,
    )


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.dashboard.server import run

    config = config_from_args(args)
    problems = config.problems()
    if problems:
        raise SystemExit("kubeling dashboard: " + "; ".join(problems))
    return await until_signalled(run(config))
