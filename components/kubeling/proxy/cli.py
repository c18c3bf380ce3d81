"""The ``kubeling proxy`` subcommand: upstream kube-proxy's flag names, bound into ProxyConfig."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from kubeling.flags import add_bool, csv_list, duration
from kubeling.signals import until_signalled

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    # Defaults are None: a flag given on the command line overrides the --config file, an absent one doesn't.
    p = sub.add_parser("proxy", help="run kube-proxy (iptables mode) in this network namespace")
    p.add_argument(
        "--config", default=None, help="a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) file"
    )
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--hostname-override", default=None, help="this node's name (default: the host name)")
    p.add_argument(
        "--cluster-cidr", default=None, help="pod CIDR: service traffic from outside it is masqueraded"
    )
    p.add_argument("--proxy-mode", default=None, help="only 'iptables'")
    p.add_argument("--iptables-min-sync-period", type=duration, default=None, help="default 1s")
    p.add_argument("--iptables-sync-period", type=duration, default=None, help="default 30s")
    add_bool(p, "--masquerade-all", default=None, help="masquerade all traffic sent to service IPs")  # type: ignore[arg-type]
    p.add_argument(
        "--nodeport-addresses",
        type=csv_list,
        default=None,
        help="CIDRs of the local addresses NodePorts answer on (default: all)",
    )
    p.add_argument("--healthz-bind-address", default=None, help="default 0.0.0.0:10256")
    p.add_argument("--metrics-bind-address", default=None, help="default 127.0.0.1:10249")
    p.add_argument(
        "--cleanup", action="store_true", default=None, help="remove the rules kube-proxy installed and exit"
    )
    p.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace) -> Any:
    from kubeling.proxy.config import build, from_file

    file_values = from_file(args.config) if args.config else {}
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "run", "command", "verbosity")}
    return build(file_values, flags)


async def _run(args: argparse.Namespace) -> int:
    from kubeling.proxy.config import ConfigError

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        raise SystemExit(f"kubeling proxy: {exc}") from None
    if config.cleanup:
        from kubeling.proxy.iptables import IPTables, IPTablesError

        try:
            removed = await IPTables().cleanup()
        except IPTablesError as exc:
            raise SystemExit(f"kubeling proxy --cleanup: {exc}") from None
        log.info("cleanup removed %d kube-proxy chains", removed)
        return 0
    from kubeling.proxy.server import run

    return await until_signalled(run(config))
