"""The ``kubeling`` command: one entry point, a subcommand per component.

Flags are declared here and bound into each component's config dataclass;
the component package exposes ``run(config)``.  Flag names follow upstream's
where one exists.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import kubeling
from kubeling.flags import add_bool, csv_list, duration


def _modes(value: str) -> str:
    from kubeling.apiserver.authz.chain import MODES

    modes = csv_list(value)
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(
            f"unknown authorization mode(s) {unknown}: choose from {', '.join(MODES)}"
        )
    return ",".join(modes)


def _add_apiserver(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apiserver", help="run the Kubernetes API server")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--secure-port", type=int, default=6443)
    p.add_argument("--advertise-address", default="")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    p.add_argument("--cert-dir", type=Path, default=Path("/var/run/kubernetes"))
    p.add_argument("--storage-backend", choices=("etcd3", "sqlite"), default="etcd3")
    p.add_argument("--etcd-servers", type=csv_list, default=[])
    p.add_argument("--etcd-cafile", default="")
    p.add_argument("--etcd-certfile", default="")
    p.add_argument("--etcd-keyfile", default="")
    p.add_argument(
        "--data-dir", type=Path, default=Path("/var/lib/kubeling"), help="sqlite backend directory"
    )
    p.add_argument("--token-auth-file", default="")
    p.add_argument("--client-ca-file", default="", help="CA that signs client certificates (x509 authn)")
    p.add_argument("--service-account-issuer", default="https://kubernetes.default.svc.cluster.local")
    p.add_argument(
        "--service-account-key-file",
        action="append",
        default=[],
        help="PEM with public keys that verify ServiceAccount tokens (repeatable)",
    )
    p.add_argument("--service-account-signing-key-file", default="")
    p.add_argument("--api-audiences", type=csv_list, default=[])
    p.add_argument(
        "--authorization-mode",
        type=_modes,
        default="AlwaysAllow",
        help="comma-separated: AlwaysAllow, AlwaysDeny, Node, RBAC (e.g. Node,RBAC)",
    )
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--service-node-port-range", default="30000-32767")
    p.add_argument("--kubelet-client-certificate", default="", help="client certificate for kubelets")
    p.add_argument("--kubelet-client-key", default="", help="its private key")
    p.add_argument(
        "--kubelet-certificate-authority", default="", help="CA that signs kubelets' serving certificates"
    )
    p.add_argument(
        "--etcd-compaction-interval",
        type=duration,
        default=300.0,
        help="how often to compact datastore history (e.g. 5m, 300s, 0 to disable)",
    )
    _add_aggregation_flags(p)
    _add_workers_flag(p, "--workers")
    for which in ("not-ready", "unreachable"):
        p.add_argument(
            f"--default-{which}-toleration-seconds",
            type=int,
            default=300,
            help=f"tolerationSeconds of the {which}:NoExecute toleration added to pods that have none",
        )
    p.set_defaults(run=_run_apiserver)


def _add_workers_flag(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument(
        name,
        type=int,
        default=1,
        help="apiserver processes sharing the port (SO_REUSEPORT; more than 1 needs etcd)",
    )


def _check_workers(command: str, workers: int, *, etcd: bool) -> None:
    if workers < 1:
        raise SystemExit(f"kubeling {command}: the number of apiserver workers must be at least 1")
    if workers > 1 and not etcd:
        raise SystemExit(
            f"kubeling {command}: several apiserver workers need etcd "
            "(the embedded datastore belongs to one process)"
        )


def _add_aggregation_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--requestheader-client-ca-file",
        default="",
        help="CA whose client certificates may assert users in request headers (front proxies)",
    )
    p.add_argument(
        "--requestheader-allowed-names",
        type=csv_list,
        default=[],
        help="client certificate common names allowed to assert users (empty: any)",
    )
    p.add_argument("--requestheader-username-headers", type=csv_list, default=[], help="e.g. X-Remote-User")
    p.add_argument("--requestheader-group-headers", type=csv_list, default=[], help="e.g. X-Remote-Group")
    p.add_argument(
        "--requestheader-extra-headers-prefix", type=csv_list, default=[], help="e.g. X-Remote-Extra-"
    )
    p.add_argument("--proxy-client-cert-file", default="", help="client certificate for extension apiservers")
    p.add_argument("--proxy-client-key-file", default="", help="its private key")
    add_bool(
        p,
        "--enable-aggregator-routing",
        default=False,
        help="proxy to APIServices' endpoint IPs instead of their Services' cluster IPs",
    )


def _run_apiserver(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    from kubeling.apiserver.app import run
    from kubeling.apiserver.config import APIServerConfig

    if args.storage_backend == "etcd3" and not args.etcd_servers:
        raise SystemExit("kubeling apiserver: --etcd-servers is required with --storage-backend=etcd3")
    _check_workers("apiserver", args.workers, etcd=args.storage_backend == "etcd3")
    return run(
        APIServerConfig(
            bind_address=args.bind_address,
            secure_port=args.secure_port,
            advertise_address=args.advertise_address,
            tls_cert_file=args.tls_cert_file,
            tls_private_key_file=args.tls_private_key_file,
            cert_dir=args.cert_dir,
            storage_backend=args.storage_backend,
            etcd_servers=args.etcd_servers,
            etcd_cafile=args.etcd_cafile,
            etcd_certfile=args.etcd_certfile,
            etcd_keyfile=args.etcd_keyfile,
            data_dir=args.data_dir,
            token_auth_file=args.token_auth_file,
            client_ca_file=args.client_ca_file,
            service_account_issuer=args.service_account_issuer,
            service_account_key_files=args.service_account_key_file,
            service_account_signing_key_file=args.service_account_signing_key_file,
            api_audiences=args.api_audiences,
            authorization_mode=args.authorization_mode,
            service_cluster_ip_range=args.service_cluster_ip_range,
            service_node_port_range=args.service_node_port_range,
            etcd_compaction_interval=args.etcd_compaction_interval,
            default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
            default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
            kubelet_client_certificate=args.kubelet_client_certificate,
            kubelet_client_key=args.kubelet_client_key,
            kubelet_certificate_authority=args.kubelet_certificate_authority,
            requestheader_client_ca_file=args.requestheader_client_ca_file,
            requestheader_allowed_names=args.requestheader_allowed_names,
            requestheader_username_headers=args.requestheader_username_headers,
            requestheader_group_headers=args.requestheader_group_headers,
            requestheader_extra_headers_prefix=args.requestheader_extra_headers_prefix,
            proxy_client_cert_file=args.proxy_client_cert_file,
            proxy_client_key_file=args.proxy_client_key_file,
            enable_aggregator_routing=args.enable_aggregator_routing,
            workers=args.workers,
        )
    )


def _add_server(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run an all-in-one single-node control plane in the foreground")
    p.add_argument("--data-dir", type=Path, default=Path("./data"))
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--secure-port", type=int, default=6443)
    p.add_argument("--advertise-address", default="")
    p.add_argument(
        "--etcd-servers", type=csv_list, default=[], help="use etcd instead of the embedded datastore"
    )
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod network; a /24 per node")
    p.add_argument(
        "--controllers", type=csv_list, default=["*"], help="as controller-manager's --controllers"
    )
    p.add_argument("--node-monitor-grace-period", type=duration, default=40.0)
    p.add_argument("--disable-controller-manager", action="store_true")
    p.add_argument("--disable-scheduler", action="store_true")
    p.add_argument(
        "--with-kubelet",
        action="store_true",
        help="also run a kubelet on this machine's Docker Engine, so pods really run (needs root)",
    )
    p.add_argument(
        "--addons",
        type=csv_list,
        default=[],
        help="addons from templates/addons to apply once the API is up (kube-proxy,dns,metrics-server)",
    )
    p.add_argument("--addons-image", default="", help="the addons' image (default kubeling/kubeling:VERSION)")
    _add_workers_flag(p, "--apiserver-workers")
    p.set_defaults(run=_run_server)


def _run_server(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    from kubeling.server import ServerConfig, run

    _check_workers("server", args.apiserver_workers, etcd=bool(args.etcd_servers))
    return run(
        ServerConfig(
            data_dir=args.data_dir,
            bind_address=args.bind_address,
            secure_port=args.secure_port,
            etcd_servers=args.etcd_servers,
            service_cluster_ip_range=args.service_cluster_ip_range,
            advertise_address=args.advertise_address,
            cluster_cidr=args.cluster_cidr,
            controllers=args.controllers,
            node_monitor_grace_period=args.node_monitor_grace_period,
            disable_controller_manager=args.disable_controller_manager,
            disable_scheduler=args.disable_scheduler,
            with_kubelet=args.with_kubelet,
            addons=args.addons,
            addons_image=args.addons_image,
            apiserver_workers=args.apiserver_workers,
        )
    )


def _add_hollow_node(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hollow-node", help="run kubelets without containers (for scale tests of control loops)"
    )
    p.add_argument(
        "--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG / ~/.kube/config"
    )
    p.add_argument("--name-prefix", default="hollow-node-")
    p.add_argument("--count", type=int, default=1, help="how many nodes this process simulates")
    p.add_argument(
        "--index-offset",
        type=int,
        default=0,
        help="number of the first node (names, pod CIDRs and IPs follow it), to split nodes over processes",
    )
    p.add_argument("--lease-renew-interval", type=float, default=10.0)
    p.set_defaults(run=_run_hollow_nodes)


async def _run_hollow_nodes(args: argparse.Namespace) -> None:
    import ipaddress
    import signal

    from kubeling.client.kubeconfig import load_config
    from kubeling.client.rest import RESTClient
    from kubeling.kubelet.hollow import HollowNode, HollowNodeConfig

    if not 1 <= args.count <= 65536 or not 0 <= args.index_offset <= 65536 - args.count:
        raise SystemExit("kubeling hollow-node: need 1 <= --count and --index-offset + --count <= 65536")
    client = RESTClient(load_config(args.kubeconfig), component="hollow-node", qps=0)
    nodes = [
        HollowNode(client, HollowNodeConfig(
            name=f"{args.name_prefix}{i}",
            pod_cidr=f"10.{244 + i // 256}.{i % 256}.0/24",
            node_ip=str(ipaddress.ip_address("10.1.0.0") + i + 1),  # distinct per node
            renew_interval=args.lease_renew_interval,
        ))
        for i in range(args.index_offset, args.index_offset + args.count)
    ]  # fmt: skip
    runs = [asyncio.create_task(node.run()) for node in nodes]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for task in runs:
        task.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    await client.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeling", description="a hackable Kubernetes in Python")
    parser.add_argument("--version", action="version", version=f"kubeling {kubeling.__version__}")
    parser.add_argument("-v", "--verbosity", type=int, default=0, help="log verbosity (0 info, 1+ debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_apiserver(sub)
    _add_server(sub)
    _add_hollow_node(sub)
    from kubeling.controllers.cli import register as _register_controller_manager
    from kubeling.dashboard.cli import register as _register_dashboard
    from kubeling.dns.cli import register as _register_dns
    from kubeling.hostgw.cli import register as _register_hostgw
    from kubeling.image.cli import register as _register_image
    from kubeling.ingress.cli import register as _register_ingress
    from kubeling.kubelet.cli import register as _register_kubelet
    from kubeling.lab.cli import register as _register_lab
    from kubeling.lb.cli import register as _register_lb
    from kubeling.logging.cli import register as _register_logging
    from kubeling.metrics.cli import register as _register_metrics_server
    from kubeling.pki.cli import register as _register_pki
    from kubeling.proxy.cli import register as _register_proxy
    from kubeling.scheduler.cli import register as _register_scheduler
    from kubeling.upgrade.cli import register as _register_upgrade
    from kubeling.verify.cli import register as _register_verify

    _register_pki(sub)
    _register_controller_manager(sub)
    _register_scheduler(sub)
    _register_kubelet(sub)
    _register_image(sub)
    _register_dns(sub)
    _register_dashboard(sub)
    _register_metrics_server(sub)
    _register_logging(sub)
    _register_ingress(sub)
    _register_proxy(sub)
    _register_hostgw(sub)
    _register_lab(sub)
    _register_lb(sub)
    _register_verify(sub)
    _register_upgrade(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbosity > 0 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # A command's coroutine may return its exit status (pki check-expiration returns 1 or 2).
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int | None]] = args.run
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        status = asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
