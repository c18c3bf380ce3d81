"""``kubeling hostgw``: flags and the process."""

from __future__ import annotations

import argparse
import socket
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hostgw", help="route other nodes' pod CIDRs via their node IPs (host-gw pod network)")
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--hostname-override", default=None, help="this node's name (default: the host name)")
    p.add_argument("--cluster-cidr", default="", help="the pod network, accepted through FORWARD")
    p.add_argument("--cleanup", action="store_true", help="remove hostgw's routes and rules, then exit")
    p.set_defaults(run=_run)


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.client.kubeconfig import ConfigError, load_config
    from kubeling.client.rest import RESTClient
    from kubeling.hostgw.agent import HostGW, cleanup
    from kubeling.signals import until_signalled

    if args.cleanup:
        await cleanup()
        return 0
    try:
        client = RESTClient(load_config(args.kubeconfig), component="kubeling-hostgw")
    except ConfigError as exc:
        raise SystemExit(f"kubeling hostgw: {exc}") from None
    node = (args.hostname_override or socket.gethostname()).strip().lower()
    try:
        return await until_signalled(HostGW(node, args.cluster_cidr).run(client))
    finally:
        await client.close()
