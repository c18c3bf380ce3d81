"""``kubeling log-collector``, ``log-store`` and ``logs query``: flags bound into configs."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kubeling.flags import csv_list, duration
from kubeling.logging import query
from kubeling.logging.config import CollectorConfig, StoreConfig
from kubeling.metrics.config import RequestHeaderConfig
from kubeling.signals import until_signalled


def register(sub: argparse._SubParsersAction) -> None:
    _register_collector(sub)
    _register_store(sub)
    query.register(sub)


def _register_collector(sub: argparse._SubParsersAction) -> None:
    defaults = CollectorConfig()
    p = sub.add_parser("log-collector", help="tail this node's container logs into the log store (DaemonSet)")
    p.add_argument("--kubeconfig", default="", help="default: in-cluster, then $KUBECONFIG")
    p.add_argument("--node-name", default=os.environ.get("NODE_NAME", ""), help="default: $NODE_NAME")
    p.add_argument("--container-log-dir", default=defaults.container_log_dir)
    p.add_argument("--docker-containers-dir", default=defaults.docker_containers_dir)
    p.add_argument("--positions-file", default=defaults.positions_file)
    p.add_argument("--scan-interval", type=duration, default=defaults.scan_interval)
    p.add_argument("--poll-interval", type=duration, default=defaults.poll_interval)
    p.add_argument("--batch-lines", type=int, default=defaults.batch_lines)
    p.add_argument("--batch-bytes", type=int, default=defaults.batch_bytes)
    p.add_argument("--unknown-pod-wait", type=duration, default=defaults.unknown_pod_wait)
    p.add_argument("--health-port", type=int, default=defaults.health_port, help="HTTPS /healthz; 0: off")
    p.set_defaults(run=_run_collector)


def _register_store(sub: argparse._SubParsersAction) -> None:
    defaults = StoreConfig()
    p = sub.add_parser("log-store", help="store and serve container logs (logging.kubeling.io/v1alpha1)")
    p.add_argument("--kubeconfig", default="", help="default: in-cluster, then $KUBECONFIG")
    p.add_argument("--authentication-kubeconfig", default="")
    p.add_argument("--authorization-kubeconfig", default="")
    p.add_argument("--database", default=defaults.database, help="the SQLite file")
    p.add_argument("--retention", type=duration, default=defaults.retention, help="0: keep lines forever")
    p.add_argument("--bind-address", default=defaults.bind_address)
    p.add_argument("--secure-port", type=int, default=defaults.secure_port)
    p.add_argument("--cert-dir", default="")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    p.add_argument("--client-ca-file", default="")
    p.add_argument("--requestheader-client-ca-file", default="")
    p.add_argument("--requestheader-allowed-names", type=csv_list, default=[])
    p.add_argument(
        "--authorization-always-allow-paths", type=csv_list, default=["/healthz", "/readyz", "/livez"]
    )
    p.set_defaults(run=_run_store)


async def _run_collector(args: argparse.Namespace) -> Any:
    from kubeling.logging.collector import run

    config = CollectorConfig(
        kubeconfig=args.kubeconfig,
        node_name=args.node_name,
        container_log_dir=args.container_log_dir,
        docker_containers_dir=args.docker_containers_dir,
        positions_file=args.positions_file,
        scan_interval=args.scan_interval,
        poll_interval=args.poll_interval,
        batch_lines=args.batch_lines,
        batch_bytes=args.batch_bytes,
        unknown_pod_wait=args.unknown_pod_wait,
        health_port=args.health_port,
    )
    problems = config.problems()
    if problems:
        raise SystemExit("kubeling log-collector: " + "; ".join(problems))
    return await until_signalled(run(config))


async def _run_store(args: argparse.Namespace) -> Any:
    from kubeling.logging.storeserver import run

    config = StoreConfig(
        kubeconfig=args.kubeconfig,
        authentication_kubeconfig=args.authentication_kubeconfig,
        authorization_kubeconfig=args.authorization_kubeconfig,
        database=args.database,
        retention=args.retention,
        bind_address=args.bind_address,
        secure_port=args.secure_port,
        cert_dir=args.cert_dir,
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        client_ca_file=args.client_ca_file,
        requestheader=RequestHeaderConfig(
            client_ca_file=args.requestheader_client_ca_file, allowed_names=args.requestheader_allowed_names
        ),
        authorization_always_allow_paths=args.authorization_always_allow_paths,
    )
    problems = config.problems()
    if problems:
        raise SystemExit("kubeling log-store: " + "; ".join(problems))
    return await until_signalled(run(config))
