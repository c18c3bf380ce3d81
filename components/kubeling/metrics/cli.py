"""``kubeling metrics-server``: upstream metrics-server's flags, bound into MetricsServerConfig."""

from __future__ import annotations

import argparse
from typing import Any

from kubeling.flags import add_bool, csv_list, duration
from kubeling.metrics.config import MetricsServerConfig, RequestHeaderConfig
from kubeling.signals import until_signalled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics-server", help="serve metrics.k8s.io (kubectl top, the HPA) from kubelets")
    p.add_argument("--kubeconfig", default="", help="default: in-cluster, then $KUBECONFIG")
    p.add_argument("--authentication-kubeconfig", default="", help="default: --kubeconfig")
    p.add_argument("--authorization-kubeconfig", default="", help="default: --kubeconfig")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--secure-port", type=int, default=10250)
    p.add_argument("--cert-dir", default="", help="where a self-signed pair goes without --tls-cert-file")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    p.add_argument("--metric-resolution", type=duration, default=15.0, help="how often kubelets are scraped")
    p.add_argument("--kubelet-preferred-address-types", type=csv_list, default=None)
    p.add_argument("--kubelet-port", type=int, default=10250, help="when a Node names no kubelet port")
    add_bool(p, "--kubelet-insecure-tls", default=False, help="do not verify kubelets' serving certificates")
    p.add_argument("--kubelet-certificate-authority", default="")
    p.add_argument("--kubelet-client-certificate", default="", help="default: the kubeconfig's credentials")
    p.add_argument("--kubelet-client-key", default="")
    p.add_argument("--kubelet-request-timeout", type=duration, default=10.0)
    p.add_argument("--client-ca-file", default="", help="overrides the ConfigMap's client-ca-file")
    p.add_argument("--requestheader-client-ca-file", default="", help="overrides the ConfigMap's")
    p.add_argument("--requestheader-allowed-names", type=csv_list, default=[])
    p.add_argument("--requestheader-username-headers", type=csv_list, default=["X-Remote-User"])
    p.add_argument("--requestheader-uid-headers", type=csv_list, default=[])
    p.add_argument("--requestheader-group-headers", type=csv_list, default=["X-Remote-Group"])
    p.add_argument("--requestheader-extra-headers-prefix", type=csv_list, default=["X-Remote-Extra-"])
    p.add_argument(
        "--authorization-always-allow-paths", type=csv_list, default=["/healthz", "/readyz", "/livez"]
    )
    p.add_argument("--authentication-token-webhook-cache-ttl", type=duration, default=10.0)
    p.add_argument("--authorization-webhook-cache-authorized-ttl", type=duration, default=10.0)
    p.add_argument("--authorization-webhook-cache-unauthorized-ttl", type=duration, default=10.0)
    p.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace) -> MetricsServerConfig:
    config = MetricsServerConfig(
        kubeconfig=args.kubeconfig,
        authentication_kubeconfig=args.authentication_kubeconfig,
        authorization_kubeconfig=args.authorization_kubeconfig,
        bind_address=args.bind_address,
        secure_port=args.secure_port,
        cert_dir=args.cert_dir,
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        metric_resolution=args.metric_resolution,
        kubelet_port=args.kubelet_port,
        kubelet_insecure_tls=args.kubelet_insecure_tls,
        kubelet_certificate_authority=args.kubelet_certificate_authority,
        kubelet_client_certificate=args.kubelet_client_certificate,
        kubelet_client_key=args.kubelet_client_key,
        kubelet_request_timeout=args.kubelet_request_timeout,
        client_ca_file=args.client_ca_file,
        requestheader=RequestHeaderConfig(
            client_ca_file=args.requestheader_client_ca_file,
            allowed_names=args.requestheader_allowed_names,
            username_headers=args.requestheader_username_headers,
            uid_headers=args.requestheader_uid_headers,
            group_headers=args.requestheader_group_headers,
            extra_headers_prefix=args.requestheader_extra_headers_prefix,
        ),
        authorization_always_allow_paths=args.authorization_always_allow_paths,
        authentication_cache_ttl=args.authentication_token_webhook_cache_ttl,
        authorization_allowed_ttl=args.authorization_webhook_cache_authorized_ttl,
        authorization_denied_ttl=args.authorization_webhook_cache_unauthorized_ttl,
    )
    if args.kubelet_preferred_address_types is not None:
        config.kubelet_preferred_address_types = args.kubelet_preferred_address_types
    return config


async def _run(args: argparse.Namespace) -> Any:
    from kubeling.metrics.server import run

    config = config_from_args(args)
    problems = config.problems()
    if problems:
        raise SystemExit("kubeling metrics-server: " + "; ".join(problems))
    return await until_signalled(run(config))
