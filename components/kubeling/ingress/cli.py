"""The ``kubeling ingress`` subcommand: the Ingress controller, flags bound into IngressConfig.

Flag names are ingress-nginx's where it has one.
"""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.flags import add_bool, csv_list, duration
from kubeling.ingress.config import CONTROLLER_CLASS, IngressConfig
from kubeling.signals import until_signalled


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} out of range 0-65535")
    return port


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingress", help="run the Ingress controller (an HTTP(S) reverse proxy)")
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--bind-address", default="0.0.0.0", help="address of every listener")
    p.add_argument("--http-port", type=_port, default=80)
    p.add_argument("--https-port", type=_port, default=443, help="0 disables HTTPS")
    p.add_argument("--healthz-port", type=_port, default=10254, help="/healthz and /metrics; 0 disables")
    p.add_argument(
        "--controller-class", default=CONTROLLER_CLASS, help="spec.controller of our IngressClasses"
    )
    p.add_argument(
        "--ingress-class", default="kubeling", help="the kubernetes.io/ingress.class annotation value we take"
    )
    add_bool(p, "--watch-ingress-without-class", default=False, help="take Ingresses naming no class")
    p.add_argument(
        "--default-ssl-certificate", default="", help="namespace/name of a kubernetes.io/tls Secret"
    )
    p.add_argument(
        "--publish-service", default="", help="namespace/name of a Service whose address to publish"
    )
    p.add_argument(
        "--publish-status-address", type=csv_list, default=[], help="addresses to publish (comma-separated)"
    )
    add_bool(p, "--update-status", default=True, help="write status.loadBalancer of our Ingresses")
    p.add_argument("--status-update-interval", type=duration, default=60.0)
    p.add_argument("--election-id", default="ingress-controller-leader", help="Lease of the status writer")
    p.add_argument("--load-balance", choices=("round_robin", "random"), default="round_robin")
    p.add_argument("--proxy-connect-timeout", type=duration, default=5.0)
    p.add_argument("--proxy-read-timeout", type=duration, default=60.0)
    p.set_defaults(run=_run)


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.ingress.app import run, split_ref

    for flag in ("default_ssl_certificate", "publish_service"):
        if getattr(args, flag):
            split_ref(getattr(args, flag), "--" + flag.replace("_", "-"))
    if args.http_port == 0:
        raise SystemExit("kubeling ingress: --http-port must not be 0")
    config = IngressConfig(
        kubeconfig=args.kubeconfig,
        bind_address=args.bind_address,
        http_port=args.http_port,
        https_port=args.https_port,
        healthz_port=args.healthz_port,
        controller_class=args.controller_class,
        ingress_class=args.ingress_class,
        watch_ingress_without_class=args.watch_ingress_without_class,
        default_ssl_certificate=args.default_ssl_certificate,
        publish_service=args.publish_service,
        publish_status_address=args.publish_status_address,
        update_status=args.update_status,
        status_update_interval=args.status_update_interval,
        election_id=args.election_id,
        load_balance=args.load_balance,
        proxy_connect_timeout=args.proxy_connect_timeout,
        proxy_read_timeout=args.proxy_read_timeout,
    )
    return await until_signalled(run(config))
