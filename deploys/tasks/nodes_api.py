"""Node steps the deploying machine takes through the API for scale.py and remove_node.py.

Run as ``python -m deploys.tasks.nodes_api STEP --kubeconfig K [--node N] [--check]`` in a
process of its own, like ``deploys.tasks.api`` (pyinfra runs under gevent). With ``--check``
a step prints ``changed`` or ``unchanged`` and touches nothing.

Steps:
- ``list-nodes``: the Node names the cluster has, one per line;
- ``drain``: cordon (``spec.unschedulable``), then evict every pod bound to the node except
  DaemonSet pods and mirror pods (``kubectl drain --ignore-daemonsets``), retrying an eviction
  a PodDisruptionBudget refuses (429) every few seconds, and wait until those pods are gone;
- ``delete-node``: delete the Node object.

``pods_to_evict`` is pure, so what a drain touches is unit-tested without a cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from kubeling.api import errors
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

NODES = StaticResource("", "v1", "nodes", False)
PODS = StaticResource("", "v1", "pods", True)
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
EVICTION_RETRY = 5.0  # seconds between evictions a budget refused (kubectl drain waits 5 s too)

Obj = dict[str, Any]


class StepError(RuntimeError):
    pass


def pods_to_evict(pods: list[Obj]) -> list[Obj]:
    """The pods a drain evicts: not DaemonSet-managed (their controller ignores cordons and
    would recreate them), not mirror pods (the kubelet owns them), not already finished."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            continue
        if any(
            ref.get("kind") == "DaemonSet" and ref.get("controller")
            for ref in meta.get("ownerReferences") or []
        ):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        out.append(pod)
    return out


def _key(pod: Obj) -> tuple[str, str]:
    return pod["metadata"].get("namespace") or "default", pod["metadata"]["name"]


async def node_names(client: RESTClient) -> list[str]:
    return sorted(n["metadata"]["name"] for n in (await client.list(NODES)).get("items") or [])


async def pods_on(client: RESTClient, node: str) -> list[Obj]:
    answer = await client.list(PODS, field_selector=f"spec.nodeName={node}")
    return pods_to_evict(answer.get("items") or [])


async def drain_needed(client: RESTClient, node: str) -> bool:
    try:
        obj = await client.get(NODES, name=node)
    except errors.StatusError as exc:
        if exc.code == 404:
            return False  # already gone: nothing to drain
        raise
    return not (obj.get("spec") or {}).get("unschedulable") or bool(await pods_on(client, node))


async def drain(client: RESTClient, node: str, timeout: float, log: Any = print) -> None:
    await client.patch(NODES, {"spec": {"unschedulable": True}}, name=node, patch_type="merge")
    log(f"node/{node} cordoned")
    deadline = time.monotonic() + timeout
    pending = {_key(p): p for p in await pods_on(client, node)}
    evicted: set[tuple[str, str]] = set()
    while pending:
        for key in sorted(pending):
            if key in evicted:
                continue
            namespace, name = key
            body = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace},
            }
            try:
                await client.create(PODS, body, namespace=namespace, name=name, subresource="eviction")
                evicted.add(key)
                log(f"evicting pod {namespace}/{name}")
            except errors.StatusError as exc:
                if exc.code == 404:
                    evicted.add(key)
                elif exc.code != 429:  # 429: a budget says not now; try again shortly
                    raise
        if time.monotonic() > deadline:
            left = ", ".join(f"{ns}/{n}" for ns, n in sorted(pending))
            raise StepError(f"drain of {node}: pods still there after {timeout:.0f}s: {left}")
        await asyncio.sleep(EVICTION_RETRY if len(evicted) < len(pending) else 1.0)
        still = {_key(p) for p in await pods_on(client, node)}
        pending = {k: v for k, v in pending.items() if k in still}
        evicted &= still
    log(f"node/{node} drained")


async def delete_node(client: RESTClient, node: str) -> bool:
    try:
        await client.delete(NODES, name=node)
    except errors.StatusError as exc:
        if exc.code == 404:
            return False
        raise
    return True


async def _main(args: argparse.Namespace) -> str:
    try:
        client = RESTClient(load_config(args.kubeconfig), component="kubeling-nodes")
    except ConfigError as exc:
        raise StepError(f"{args.kubeconfig}: {exc}") from None
    try:
        if args.step == "list-nodes":
            return "\n".join(await node_names(client))
        if not args.node:
            raise StepError(f"{args.step} needs --node")
        if args.step == "drain":
            if not await drain_needed(client, args.node):
                return "unchanged"
            if args.check:
                return "changed"
            await drain(client, args.node, args.timeout, log=lambda m: print(m, file=sys.stderr))
            return "changed"
        if args.step == "delete-node":
            if args.check:
                return "changed" if args.node in await node_names(client) else "unchanged"
            return "changed" if await delete_node(client, args.node) else "unchanged"
        raise StepError(f"unknown step {args.step}")
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploys.tasks.nodes_api")
    p.add_argument("step", choices=("list-nodes", "drain", "delete-node"))
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node", default="")
    p.add_argument("--check", action="store_true", help="only print changed/unchanged")
    p.add_argument("--timeout", type=float, default=300.0, help="drain: give up after this many seconds")
    args = p.parse_args(argv)
    try:
        print(asyncio.run(_main(args)))
    except (StepError, errors.StatusError, OSError) as exc:
        print(f"{args.step}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
