"""``kubeling logs query``: stored container logs, asked of the API server with the user's kubeconfig.

The request goes to ``/apis/logging.kubeling.io/v1alpha1/[namespaces/NS/]logs``;
the API server authenticates the user, checks RBAC (list ``logs`` in the
namespace, which the view/edit/admin roles aggregate) and proxies to the log
store, which checks again.  So nobody reads more than their identity may, and
no port-forward or node access is needed.  Lines print as ``kubectl logs
--prefix`` prints them: ``[pod/<pod>/<container>] <line>`` (the namespace
in front with ``--all-namespaces``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO
from urllib.parse import urlencode

import orjson

from kubeling.api import errors
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.rest import RESTClient
from kubeling.flags import duration
from kubeling.logging.records import parse_time
from kubeling.logging.shipper import GROUP, VERSION

Obj = dict[str, Any]


def register(sub: argparse._SubParsersAction) -> None:
    logs = sub.add_parser("logs", help="cluster-level logging: query the log store")
    commands = logs.add_subparsers(dest="logs_command", required=True)
    p = commands.add_parser("query", help="print stored container log lines (they outlive their pods)")
    p.add_argument("--kubeconfig", default="", help="default: $KUBECONFIG, ~/.kube/config, in-cluster")
    p.add_argument("--context", default=None)
    p.add_argument("-n", "--namespace", default="", help="default: the kubeconfig context's namespace")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument(
        "-l", "--label", "--selector", dest="label", default="", help="pod label selector, e.g. app=web"
    )
    p.add_argument("--pod", default="")
    p.add_argument("-c", "--container", default="")
    p.add_argument("--since", type=duration, default=None, help="only lines newer than this, e.g. 10m")
    p.add_argument("--since-time", default="", help="only lines at or after this RFC 3339 time")
    p.add_argument("--until-time", default="", help="only lines at or before this RFC 3339 time")
    p.add_argument("--contains", default="", help="only lines containing this text")
    p.add_argument(
        "--limit", type=int, default=1000, help="at most this many lines (oldest first; max 10000)"
    )
    p.add_argument("--timestamps", action="store_true", help="print each line's time after the prefix")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(run=_run)


def query_path(args: argparse.Namespace, namespace: str) -> str:
    """The API path and parameters for the flags; ValueError on contradictory or malformed ones."""
    if args.since is not None and args.since_time:
        raise ValueError("at most one of --since or --since-time may be given")
    if args.since is not None and args.since < 1:
        raise ValueError("--since must be at least 1s")
    for flag, value in (("--since-time", args.since_time), ("--until-time", args.until_time)):
        if value:
            try:
                parse_time(value)
            except ValueError as exc:
                raise ValueError(f"{flag}: {exc}") from None
    if args.limit < 1:
        raise ValueError("--limit must be at least 1")
    params = {
        "pod": args.pod,
        "container": args.container,
        "labelSelector": args.label,
        "sinceSeconds": str(int(args.since)) if args.since is not None else "",
        "sinceTime": args.since_time,
        "untilTime": args.until_time,
        "contains": args.contains,
        "limit": str(args.limit),
    }
    scope = "" if args.all_namespaces else f"namespaces/{namespace}/"
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/apis/{GROUP}/{VERSION}/{scope}logs?{query}"


def format_line(item: Obj, *, all_namespaces: bool, timestamps: bool) -> str:
    prefix = f"[pod/{item.get('pod', '')}/{item.get('container', '')}]"
    if all_namespaces:
        prefix = f"[{item.get('namespace', '')}/pod/{item.get('pod', '')}/{item.get('container', '')}]"
    stamp = f" {item.get('time', '')}" if timestamps else ""
    return f"{prefix}{stamp} {item.get('log', '')}"


def print_lines(items: list[Obj], args: argparse.Namespace, out: TextIO) -> None:
    if args.output == "json":
        out.write(orjson.dumps({"items": items}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    for item in items:
        out.write(format_line(item, all_namespaces=args.all_namespaces, timestamps=args.timestamps) + "\n")


async def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.kubeconfig or None, context=args.context)
    except ConfigError as exc:
        print(f"kubeling logs query: {exc}", file=sys.stderr)
        return 1
    namespace = args.namespace or config.namespace or "default"
    try:
        path = query_path(args, namespace)
    except ValueError as exc:
        print(f"kubeling logs query: {exc}", file=sys.stderr)
        return 2
    async with RESTClient(config, component="logs-query", max_retries=2) as client:
        try:
            answer = await client.request("GET", path, timeout=60.0)
        except errors.StatusError as exc:
            hint = ""
            if exc.code in (404, 503):
                hint = " (is the logging addon installed and its log-store running?)"
            print(f"Error from server ({exc.reason}): {exc}{hint}", file=sys.stderr)
            return 1
        except (OSError, TimeoutError) as exc:
            print(f"kubeling logs query: cannot reach {config.server}: {exc}", file=sys.stderr)
            return 1
    print_lines(list(answer.get("items") or []), args, sys.stdout)
    return 0
