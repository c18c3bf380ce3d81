"""Waits the certificate rotation takes from the deploying machine, one component at a time.

Run as ``python -m deploys.tasks.certs_steps STEP --kubeconfig K ...`` in a process of its
own (pyinfra's CLI runs under gevent's monkey-patching, which kubeling's asyncio client
should not share), as ``deploys/tasks/api.py`` is. Every step polls until its condition
holds or ``--timeout`` passes (exit 1 with the last thing it saw); connection errors count
as "not yet": the API may be restarting under it.

Steps:
- ``static-pod``: the mirror pod ``kube-system/<component>-<node>`` carries
  ``kubernetes.io/config.hash`` = ``--hash`` (the kubelet runs the new manifest) and is
  Ready; with ``--readyz URL`` also that apiserver's ``/readyz`` answers 200 (``--cacert``);
- ``node-ready``: the Node is Ready with a heartbeat newer than ``--since`` (epoch
  seconds), so a restarted kubelet has reported in with its new certificates.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ssl
import sys
import time
import urllib.request

from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

NODES = StaticResource("", "v1", "nodes", False)
PODS = StaticResource("", "v1", "pods", True)
HASH = "kubernetes.io/config.hash"


class StepError(RuntimeError):
    pass


def _condition(obj: dict, kind: str) -> dict:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return item
    return {}


def _readyz(url: str, cacert: str) -> bool:
    context = ssl.create_default_context(cafile=cacert)
    try:
        with urllib.request.urlopen(f"{url}/readyz", context=context, timeout=3) as answer:
            return answer.status == 200
    except OSError:
        return False


async def static_pod(client: RESTClient, args: argparse.Namespace) -> str:
    name = f"{args.component}-{args.node}"
    try:
        pod = await client.get(PODS, namespace="kube-system", name=name)
    except Exception as exc:  # restarting apiserver, pod being replaced: not yet
        return f"{name}: {exc or type(exc).__name__}"
    current = (pod["metadata"].get("annotations") or {}).get(HASH)
    if current != args.hash:
        return f"{name} still runs manifest {current}"
    if _condition(pod, "Ready").get("status") != "True":
        return f"{name} is not Ready"
    if args.readyz and not _readyz(args.readyz, args.cacert):
        return f"{args.readyz}/readyz does not answer 200"
    return ""


async def node_ready(client: RESTClient, args: argparse.Namespace) -> str:
    try:
        node = await client.get(NODES, name=args.node)
    except Exception as exc:
        return f"{args.node}: {exc or type(exc).__name__}"
    ready = _condition(node, "Ready")
    if ready.get("status") != "True":
        return f"{args.node} is not Ready"
    beat = ready.get("lastHeartbeatTime") or ""
    try:
        at = datetime.datetime.strptime(beat, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()
    except ValueError:
        return f"{args.node}: unreadable heartbeat {beat!r}"
    if at < args.since:
        return f"{args.node}: last heartbeat {beat} is from before the restart"
    return ""


STEPS = {"static-pod": static_pod, "node-ready": node_ready}


async def run(args: argparse.Namespace) -> None:
    try:
        client = RESTClient(load_config(args.kubeconfig), component="kubeling-rotate-certs", max_retries=0)
    except ConfigError as exc:
        raise StepError(f"{args.kubeconfig}: {exc}") from None
    deadline = time.monotonic() + args.timeout
    try:
        while True:
            waiting = await STEPS[args.step](client, args)
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise StepError(f"{args.step}: not done within {args.timeout:.0f}s: {waiting}")
            await asyncio.sleep(1)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploys.tasks.certs_steps")
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--component", default="")
    parser.add_argument("--hash", default="")
    parser.add_argument("--readyz", default="", help="an apiserver URL whose /readyz must answer 200")
    parser.add_argument("--cacert", default="")
    parser.add_argument("--since", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args))
    except StepError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
