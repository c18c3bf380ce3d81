"""``kubeling controller-manager`` flags (upstream's names) bound into :class:`ControllerManagerConfig`."""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from kubeling.flags import add_bool, csv_list, duration

if TYPE_CHECKING:
    from kubeling.controllers.base import ControllerOptions

_CONCURRENCY = (
    "deployment",
    "replicaset",
    "rc",
    "daemonset",
    "statefulset",
    "job",
    "cronjob",
    "endpoint",
    "endpointslice",
    "gc",
    "namespace",
    "serviceaccount-token",
    "resource-quota",
    "horizontal-pod-autoscaler",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("controller-manager", help="run the controllers that reconcile the cluster")
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument(
        "--controllers",
        type=csv_list,
        default=["*"],
        help="'*' enables the defaults, 'foo' enables foo, '-foo' disables foo",
    )
    add_bool(p, "--leader-elect", default=True)
    p.add_argument("--leader-elect-lease-duration", type=duration, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=duration, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=duration, default=2.0)
    add_bool(p, "--use-service-account-credentials", default=True)
    p.add_argument("--kube-api-qps", type=float, default=20.0)
    p.add_argument("--kube-api-burst", type=int, default=30)
    p.add_argument("--bind-address", default="0.0.0.0", help="address of the health endpoints")
    p.add_argument("--secure-port", type=int, default=10257, help="HTTPS port of /healthz; 0 disables it")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    p.add_argument("--cert-dir", default="", help="where a self-signed serving pair is kept")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    add_bool(p, "--allocate-node-cidrs", default=True)
    p.add_argument("--node-cidr-mask-size", type=int, default=24)
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--node-monitor-period", type=duration, default=5.0)
    p.add_argument("--node-monitor-grace-period", type=duration, default=40.0)
    p.add_argument("--node-eviction-rate", type=float, default=0.1, help="nodes per second per healthy zone")
    p.add_argument("--secondary-node-eviction-rate", type=float, default=0.01)
    p.add_argument("--large-cluster-size-threshold", type=int, default=50)
    p.add_argument("--unhealthy-zone-threshold", type=float, default=0.55)
    p.add_argument("--node-cidr-mask-size-ipv6", type=int, default=64)
    p.add_argument("--max-endpoints-per-slice", type=int, default=100)
    p.add_argument("--resource-quota-sync-period", type=duration, default=300.0)
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500)
    p.add_argument("--root-ca-file", default="", help="CA bundle published as kube-root-ca.crt")
    p.add_argument("--service-account-private-key-file", default="", help="signs legacy token Secrets")
    p.add_argument("--cluster-signing-cert-file", default="", help="CA certificate csrsigning signs with")
    p.add_argument("--cluster-signing-key-file", default="", help="that CA's key")
    p.add_argument("--cluster-signing-duration", type=duration, default=365 * 24 * 3600.0)
    for name in _CONCURRENCY:
        p.add_argument(f"--concurrent-{name}-syncs", type=int, default=None)
    p.set_defaults(run=_run)


def options_from_args(args: argparse.Namespace) -> ControllerOptions:
    """The flags every controller reads, as one typed config."""
    from kubeling.controllers.base import ControllerOptions

    concurrency = {
        name: value
        for name in _CONCURRENCY
        if (value := getattr(args, f"concurrent_{name.replace('-', '_')}_syncs")) is not None
    }
    return ControllerOptions(
        cluster_cidr=args.cluster_cidr,
        allocate_node_cidrs=args.allocate_node_cidrs,
        node_cidr_mask_size=args.node_cidr_mask_size,
        node_cidr_mask_size_ipv6=args.node_cidr_mask_size_ipv6,
        service_cluster_ip_range=args.service_cluster_ip_range,
        node_monitor_period=args.node_monitor_period,
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_eviction_rate=args.node_eviction_rate,
        secondary_node_eviction_rate=args.secondary_node_eviction_rate,
        large_cluster_size_threshold=args.large_cluster_size_threshold,
        unhealthy_zone_threshold=args.unhealthy_zone_threshold,
        max_endpoints_per_slice=args.max_endpoints_per_slice,
        resource_quota_sync_period=args.resource_quota_sync_period,
        terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
        root_ca_file=args.root_ca_file,
        service_account_private_key_file=args.service_account_private_key_file,
        cluster_signing_cert_file=args.cluster_signing_cert_file,
        cluster_signing_key_file=args.cluster_signing_key_file,
        cluster_signing_duration=args.cluster_signing_duration,
        concurrent_syncs=concurrency,
    )


def _run(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    from kubeling.controllers.manager import ControllerManagerConfig, enabled_controllers, run

    try:
        enabled_controllers(args.controllers)
    except ValueError as exc:
        raise SystemExit(f"kubeling controller-manager: --controllers: {exc}") from None
    return run(
        ControllerManagerConfig(
            kubeconfig=args.kubeconfig,
            controllers=args.controllers,
            leader_elect=args.leader_elect,
            leader_elect_lease_duration=args.leader_elect_lease_duration,
            leader_elect_renew_deadline=args.leader_elect_renew_deadline,
            leader_elect_retry_period=args.leader_elect_retry_period,
            use_service_account_credentials=args.use_service_account_credentials,
            kube_api_qps=args.kube_api_qps,
            kube_api_burst=args.kube_api_burst,
            bind_address=args.bind_address,
            secure_port=args.secure_port,
            tls_cert_file=args.tls_cert_file,
            tls_private_key_file=args.tls_private_key_file,
            cert_dir=args.cert_dir,
            options=options_from_args(args),
        )
    )
