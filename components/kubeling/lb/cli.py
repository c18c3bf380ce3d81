"""``kubeling lb``: flags and the process (see ``kubeling.lb``)."""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.flags import csv_list, duration


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lb", help="node-local TCP load balancer in front of every control plane's apiserver (HA)"
    )
    p.add_argument(
        "--backends",
        type=csv_list,
        required=True,
        help="the apiservers, HOST[:PORT] comma-separated (port default 6443)",
    )
    p.add_argument("--bind-address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6444, help="port to listen on (default 6444)")
    p.add_argument(
        "--health-check",
        choices=("https", "tcp"),
        default="https",
        help="https: GET --health-check-path over TLS, 200 is healthy (default); tcp: connect only",
    )
    p.add_argument("--health-check-path", default="/readyz")
    p.add_argument("--ca-file", default="", help="verify the apiservers' certificates with this CA")
    p.add_argument("--health-check-interval", type=duration, default=1.0, help="between probes (1s)")
    # A loaded apiserver's TLS handshake can take a couple of seconds: don't call that down.
    p.add_argument("--health-check-timeout", type=duration, default=3.0, help="per probe (3s)")
    p.add_argument("--connect-timeout", type=duration, default=2.0, help="per backend dial (2s)")
    p.add_argument("--rise", type=int, default=1, help="passed probes in a row that make a backend healthy")
    p.add_argument("--fall", type=int, default=2, help="failed probes in a row that make it unhealthy")
    p.set_defaults(run=_run)


def config_from(args: argparse.Namespace) -> Any:
    from kubeling.lb.backends import parse_backend
    from kubeling.lb.health import Mode
    from kubeling.lb.proxy import LBConfig

    try:
        backends = tuple(dict.fromkeys(parse_backend(b) for b in args.backends))
    except ValueError as exc:
        raise SystemExit(f"kubeling lb: --backends: {exc}") from None
    if not backends:
        raise SystemExit("kubeling lb: --backends: give at least one apiserver")
    if not 0 <= args.port < 65536:
        raise SystemExit("kubeling lb: --port must be 0-65535")
    if args.rise < 1 or args.fall < 1:
        raise SystemExit("kubeling lb: --rise and --fall must be at least 1")
    for flag in ("health_check_interval", "health_check_timeout", "connect_timeout"):
        if getattr(args, flag) <= 0:
            raise SystemExit(f"kubeling lb: --{flag.replace('_', '-')} must be positive")
    return LBConfig(
        backends=backends,
        bind_address=args.bind_address,
        port=args.port,
        health_check=Mode(args.health_check),
        health_check_path=args.health_check_path,
        ca_file=args.ca_file,
        interval=args.health_check_interval,
        timeout=args.health_check_timeout,
        connect_timeout=args.connect_timeout,
        rise=args.rise,
        fall=args.fall,
    )


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.lb.proxy import Balancer
    from kubeling.signals import until_signalled

    balancer = Balancer(config_from(args))
    try:
        await balancer.start()
    except OSError as exc:
        raise SystemExit(f"kubeling lb: listen on {args.bind_address}:{args.port}: {exc}") from None
    try:
        return await until_signalled(balancer.check_forever())
    finally:
        await balancer.stop()
