"""The ``kubeling kubelet`` subcommand: upstream kubelet's flag names, bound into KubeletConfig."""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.flags import boolean, csv_list, duration
from kubeling.kubelet.config import parse_labels, parse_taints


def _labels(value: str) -> dict[str, str]:
    try:
        return parse_labels(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _taints(value: str) -> list[dict[str, str]]:
    try:
        return parse_taints(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _thresholds(value: str) -> dict[str, str]:
    from kubeling.kubelet.eviction import ThresholdError, parse_signal_map

    try:
        return parse_signal_map(value)
    except ThresholdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _grace_periods(value: str) -> dict[str, float]:
    from kubeling.kubelet.eviction import ThresholdError, parse_grace_map

    try:
        return {signal: duration(amount) for signal, amount in parse_grace_map(value).items()}
    except ThresholdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    # Defaults are None: a flag given on the command line overrides the --config file, an absent one doesn't.
    p = sub.add_parser("kubelet", help="run the node agent (kubelet) on the local Docker Engine")
    p.add_argument(
        "--config", default=None, help="a KubeletConfiguration (kubelet.config.k8s.io/v1beta1) file"
    )
    p.add_argument("--kubeconfig", default=None, help="defaults to in-cluster, then $KUBECONFIG")
    p.add_argument("--hostname-override", default=None)
    p.add_argument("--node-ip", default=None, help="default: the address of the default-route interface")
    p.add_argument("--pod-manifest-path", default=None, help="directory of static pod manifests")
    p.add_argument("--root-dir", default=None, help="default /var/lib/kubelet")
    p.add_argument("--cluster-dns", type=csv_list, default=None)
    p.add_argument("--cluster-domain", default=None, help="default cluster.local")
    p.add_argument("--node-labels", type=_labels, default=None, help="key=value,...")
    p.add_argument("--register-with-taints", type=_taints, default=None, help="key=value:Effect,...")
    p.add_argument("--max-pods", type=int, default=None, help="default 110")
    p.add_argument("--pod-infra-container-image", default=None)
    p.add_argument("--cni-bin-dir", default=None, help="default /usr/lib/cni")
    p.add_argument("--cni-conf-dir", default=None, help="default /etc/cni/net.d")
    p.add_argument("--node-status-update-frequency", type=duration, default=None)
    p.add_argument("--file-check-frequency", type=duration, default=None)
    p.add_argument("--address", default=None, help="the kubelet server's address (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=None, help="the kubelet server's HTTPS port (default 10250)")
    p.add_argument("--tls-cert-file", default=None, help="default: self-signed under <root-dir>/pki")
    p.add_argument("--tls-private-key-file", default=None)
    p.add_argument("--client-ca-file", default=None, help="CA of the client certificates the server accepts")
    p.add_argument("--resolv-conf", default=None, help="resolver config for dnsPolicy Default pods")
    p.add_argument(
        "--non-masquerade-cidr",
        default=None,
        help="pod traffic to addresses outside this range (the cluster's pod network) is masqueraded",
    )
    p.add_argument(
        "--node-network-container",
        default=None,
        help="kubeling: a container holding this node's network namespace (hostNetwork pods join it)",
    )
    p.add_argument(
        "--eviction-hard",
        type=_thresholds,
        default=None,
        help="signal<quantity|percent,... (default memory.available<100Mi,nodefs.available<10%%,"
        "imagefs.available<15%%,nodefs.inodesFree<5%%)",
    )
    p.add_argument("--eviction-soft", type=_thresholds, default=None, help="signal<quantity|percent,...")
    p.add_argument(
        "--eviction-soft-grace-period", type=_grace_periods, default=None, help="signal=duration,..."
    )
    p.add_argument("--eviction-pressure-transition-period", type=duration, default=None, help="default 5m")
    p.add_argument(
        "--eviction-max-pod-grace-period", type=int, default=None, help="seconds, for soft evictions"
    )
    p.add_argument(
        "--enable-debugging-handlers", type=boolean, default=None, help="serve /logs/ (default true)"
    )
    p.add_argument(
        "--rotate-certificates",
        type=boolean,
        default=None,
        help="renew the client certificate through CertificateSigningRequests before it expires",
    )
    p.add_argument("--node-log-dir", default=None, help="what the server's /logs/ serves (default /var/log)")
    p.add_argument(
        "--container-log-dir", default=None, help="container log symlinks (default /var/log/containers)"
    )
    p.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace) -> Any:
    from kubeling.kubelet.config import build, from_file

    file_values = from_file(args.config) if args.config else {}
    from kubeling.kubelet.eviction import ThresholdError, config_of

    flags = {k: v for k, v in vars(args).items() if k not in ("config", "run", "command", "verbosity")}
    config = build(file_values, flags)
    try:
        config_of(config).thresholds()
    except ThresholdError as exc:
        raise SystemExit(f"kubeling kubelet: {exc}") from None
    return config


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.kubelet.kubelet import run
    from kubeling.signals import until_signalled

    config = config_from_args(args)
    return await until_signalled(run(config))
