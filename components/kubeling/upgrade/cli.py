"""``kubeling upgrade plan -i INVENTORY --to VERSION``: the table of what an upgrade changes.

Exit 0 when the upgrade is allowed (or there is nothing to do), 1 when the
version-skew policy refuses it (the reasons are printed), 2 when the cluster
cannot be asked (no kubeconfig, API unreachable).  The upgrade itself is
``pyinfra -y INVENTORY deploys/upgrade.py --data target_version=VERSION``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def kubeconfig_of(inventory: Path | None, kubeconfig: Path | None) -> Path:
    """``--kubeconfig``, else the admin kubeconfig install.py wrote next to the inventory."""
    if kubeconfig is not None:
        return kubeconfig
    if inventory is None:
        raise ValueError("give -i INVENTORY or --kubeconfig")
    return inventory.with_suffix(".kubeconfig")


async def _plan(args: argparse.Namespace) -> int:
    from kubeling.client.kubeconfig import ConfigError, load_config
    from kubeling.upgrade.plan import gather, make_plan

    try:
        path = kubeconfig_of(args.inventory, args.kubeconfig)
        config = load_config(path)
    except (ValueError, ConfigError, OSError) as exc:
        print(f"kubeling upgrade plan: error: {exc}", file=sys.stderr)
        return 2
    try:
        components = await gather(config)
    except Exception as exc:  # unreachable, TLS, 401/403: one line, not a traceback
        print(
            f"kubeling upgrade plan: error: cannot read the cluster at {config.server}: {exc}",
            file=sys.stderr,
        )
        return 2
    plan = make_plan(components, args.to)
    print(plan.render())
    return 0 if plan.allowed else 1


def register(sub: argparse._SubParsersAction) -> None:
    upgrade = sub.add_parser(
        "upgrade", help="plan a cluster upgrade (the upgrade runs as deploys/upgrade.py)"
    )
    verbs = upgrade.add_subparsers(dest="upgrade_command", required=True)
    p = verbs.add_parser(
        "plan",
        help="current and target versions of every component, checked against the version-skew policy",
        description="Exit 0: allowed or nothing to do; 1: refused by the version-skew policy; 2: cannot ask.",
    )
    p.add_argument(
        "-i", "--inventory", type=Path, default=None, help="pyinfra inventory (inventories/lab.py)"
    )
    p.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="admin kubeconfig (default: <inventory stem>.kubeconfig)",
    )
    p.add_argument("--to", required=True, metavar="VERSION", help="the kubeling version to upgrade to")
    p.set_defaults(run=_plan)
