"""The ``kubeling verify`` subcommand: flags bound into :class:`~kubeling.verify.run.VerifyOptions`."""

from __future__ import annotations

import argparse
from pathlib import Path

from kubeling.kubelet.images import BUSYBOX_IMAGE


async def _run(args: argparse.Namespace) -> int:
    try:
        from kubeling.verify.run import VerifyOptions, run
    except ImportError as exc:  # pyinfra/testinfra live in the deploy extra
        raise SystemExit(f"kubeling verify: {exc}; install kubeling[deploy] on this machine") from None

    return await run(
        VerifyOptions(
            inventory=args.inventory,
            kubeconfig=args.kubeconfig,
            warn_days=args.warn_days,
            image=args.image,
            workload_timeout=args.timeout,
        )
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check an installed cluster: every host of an inventory over SSH, then the cluster via its API",
        description="One line per check (host, check, ok or FAILED with the reason); exit 1 if any failed.",
    )
    p.add_argument(
        "-i", "--inventory", type=Path, required=True, help="pyinfra inventory file (inventories/lab.py)"
    )
    p.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="admin kubeconfig (default: next to the inventory, <inventory stem>.kubeconfig)",
    )
    p.add_argument("--warn-days", type=int, default=30, help="a certificate expiring within this fails")
    p.add_argument("--image", default=BUSYBOX_IMAGE, help="image of the throwaway DNS and Service probe pods")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds the DNS and Service probes may take")
    p.set_defaults(run=_run)
