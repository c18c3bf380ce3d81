"""The ``kubeling dns`` subcommand: cluster DNS, flags bound into DNSConfig."""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.dns.config import CLUSTER_TTL, DNSConfig
from kubeling.flags import csv_list, duration
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
    p = sub.add_parser("dns", help="run cluster DNS (the CoreDNS kubernetes plugin's records)")
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--bind-address", default="0.0.0.0", help="address of the DNS listeners")
    p.add_argument("--port", type=_port, default=53, help="UDP and TCP port of the DNS server")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument(
        "--upstream",
        type=csv_list,
        default=[],
        help="resolvers for non-cluster names (ip or ip:port, comma-separated); default: --resolv-conf's",
    )
    p.add_argument("--resolv-conf", default="/etc/resolv.conf")
    p.add_argument("--forward-timeout", type=duration, default=2.0, help="per upstream attempt")
    p.add_argument(
        "--ttl", type=int, default=CLUSTER_TTL, help="TTL of cluster answers (kubeadm's Corefile: 30)"
    )
    p.add_argument("--cache-size", type=int, default=9984, help="cached answers of forwarded names")
    p.add_argument("--cache-max-ttl", type=int, default=30, help="cap on a cached answer's TTL")
    p.add_argument("--health-port", type=_port, default=8080, help="HTTP /health; 0 disables")
    p.add_argument("--ready-port", type=_port, default=8181, help="HTTP /ready; 0 disables")
    p.add_argument("--metrics-port", type=_port, default=9153, help="HTTP /metrics; 0 disables")
    p.add_argument("--health-bind-address", default="", help="address of the HTTP endpoints")
    p.add_argument(
        "--lameduck",
        type=duration,
        default=5.0,
        help="after SIGTERM, keep answering this long with /ready failing (as CoreDNS's lameduck)",
    )
    p.set_defaults(run=_run)


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.dns.app import run

    if args.ttl < 0 or args.ttl > 3600:
        raise SystemExit("kubeling dns: --ttl must be between 0 and 3600")
    if args.cache_size < 0:
        raise SystemExit("kubeling dns: --cache-size must not be negative")
    config = DNSConfig(
        kubeconfig=args.kubeconfig,
        bind_address=args.bind_address,
        port=args.port,
        cluster_domain=args.cluster_domain.strip(".").lower(),
        upstream=args.upstream,
        resolv_conf=args.resolv_conf,
        forward_timeout=args.forward_timeout,
        ttl=args.ttl,
        cache_size=args.cache_size,
        cache_max_ttl=args.cache_max_ttl,
        health_port=args.health_port,
        ready_port=args.ready_port,
        metrics_port=args.metrics_port,
        health_bind_address=args.health_bind_address,
        lameduck=args.lameduck,
    )
    return await until_signalled(run(config))
