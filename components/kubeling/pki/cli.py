"""The ``kubeling pki`` subcommand group: flags, bound into the calls of ``commands``.

Each subcommand's ``run`` is a coroutine function, as ``kubeling.cli.main``
expects; the work itself is synchronous and returns the exit status: 0 done,
1 check-expiration found certificates to renew, 2 bad input (one line on
stderr, nothing written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from kubeling.pki import commands
from kubeling.pki.certs import KeyType
from kubeling.pki.layout import Host, Inventory, parse_host


def _hosts(values: list[str]) -> tuple[Host, ...]:
    # Parsed here rather than by argparse so a bad HOST=IP is one line, like every other input error.
    try:
        return tuple(parse_host(value) for value in values)
    except ValueError as exc:
        raise commands.PkiError(str(exc)) from None


def _guarded(
    name: str, work: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    async def run(args: argparse.Namespace) -> int:
        try:
            return work(args)
        except commands.PkiError as exc:
            print(f"kubeling pki {name}: error: {exc}", file=sys.stderr)
            return 2

    return run


def _init(args: argparse.Namespace) -> int:
    inventory = Inventory(
        cluster=args.cluster,
        control_planes=_hosts(args.control_plane),
        nodes=_hosts(args.node),
        apiserver_endpoint=args.apiserver_endpoint,
        service_cidr=args.service_cidr,
        cluster_domain=args.cluster_domain,
    )
    options = commands.InitOptions(
        directory=args.dir if args.dir is not None else Path("certs") / args.cluster,
        inventory=inventory,
        key_type=KeyType(args.key_type),
        leaf_days=args.leaf_days,
        ca_days=args.ca_days,
    )
    return commands.init(options)


def _check(args: argparse.Namespace) -> int:
    if (args.dir is None) == (args.cert_dir is None):
        raise commands.PkiError("give one of --dir (a cluster's PKI) or --cert-dir (a host's)")
    if args.cert_dir is not None:
        return commands.check_host_expiration(args.cert_dir, warn_days=args.warn_days)
    return commands.check_expiration(args.dir, warn_days=args.warn_days)


def _renew(args: argparse.Namespace) -> int:
    return commands.renew(
        args.dir, args.name, leaf_days=args.leaf_days, expiring_within_days=args.expiring_within_days
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pki init``, ``pki check-expiration`` and ``pki renew`` to the top-level parser."""
    pki = sub.add_parser("pki", help="make and maintain a cluster's certificates and kubeconfigs")
    verbs = pki.add_subparsers(dest="pki_command", required=True)

    p = verbs.add_parser("init", help="create the kubeadm certificate set; keep what is already valid")
    p.add_argument("--cluster", required=True, help="cluster name (kubeconfig cluster entry)")
    p.add_argument("--dir", type=Path, default=None, help="PKI directory (default certs/<cluster>)")
    p.add_argument(
        "--control-plane",
        metavar="HOST=IP",
        action="append",
        required=True,
        help="a control-plane (and etcd) host; repeatable",
    )
    p.add_argument("--node", metavar="HOST=IP", action="append", default=[], help="a worker; repeatable")
    p.add_argument(
        "--apiserver-endpoint",
        default="",
        help="DNS name or IP[:port] clients use (default first control plane)",
    )
    p.add_argument("--service-cidr", default="10.96.0.0/12")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--key-type", choices=[t.value for t in KeyType], default=KeyType.ECDSA.value)
    p.add_argument("--leaf-days", type=int, default=365)
    p.add_argument("--ca-days", type=int, default=3650)
    p.set_defaults(run=_guarded("init", _init))

    p = verbs.add_parser("check-expiration", help="list certificates and when they expire")
    p.add_argument("--dir", type=Path, default=None, help="a cluster's PKI directory (certs/<cluster>)")
    p.add_argument(
        "--cert-dir",
        type=Path,
        default=None,
        help="a host's certificate directory (/etc/kubernetes/pki; kubeconfigs from its parent)",
    )
    p.add_argument("--warn-days", type=int, default=30, help="exit 1 when a certificate expires within this")
    p.set_defaults(run=_guarded("check-expiration", _check))

    p = verbs.add_parser("renew", help="re-sign leaf certificates with the same key and names")
    p.add_argument(
        "name", help="all, or a kubeadm certificate name (apiserver, admin.conf, etcd-server, ...)"
    )
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--leaf-days", type=int, default=None, help="validity (default: as at init)")
    p.add_argument(
        "--expiring-within-days",
        type=int,
        default=None,
        help="renew only those expiring within this many days (default: all chosen)",
    )
    p.set_defaults(run=_guarded("renew", _renew))
