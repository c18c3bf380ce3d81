"""Steps the deploying machine takes through the API once the hosts are set up.

Run as ``python -m deploys.tasks.api STEP --kubeconfig K [--check] ...`` in a
process of its own (pyinfra's CLI runs under gevent's monkey-patching, which
kubeling's asyncio client should not share). With ``--check`` a step only
compares and prints ``changed`` or ``unchanged``; without it, it acts. So the
pyinfra operation that calls it yields a command only when something differs.

Steps:
- ``wait-api``: until a list of nodes succeeds (or ``--timeout``);
- ``addons``: server-side apply of the named addons (``--check``: a dry-run
  apply of each object, compared with what is stored); with
  ``--only-if-nodes-at V`` nothing is applied unless every ``--nodes`` kubelet
  reports kubeling V (an upgrade that stopped part-way leaves the addons be);
- ``wait-nodes``: until every named node is Ready;
- ``wait-addons``: until every Deployment and DaemonSet of the named addons
  has rolled out (as ``kubectl rollout status``);
- ``label-control-planes``: kubeadm's ``node-role.kubernetes.io/control-plane`` label.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from kubeling.addons import AddonError, AddonValues, apply, render, resource_of
from kubeling.api import errors
from kubeling.client.kubeconfig import ConfigError, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

NODES = StaticResource("", "v1", "nodes", False)
ROLE_LABEL = "node-role.kubernetes.io/control-plane"
VOLATILE = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


class StepError(RuntimeError):
    pass


def _client(kubeconfig: str) -> RESTClient:
    try:
        return RESTClient(load_config(kubeconfig), component="kubeling-install")
    except ConfigError as exc:
        raise StepError(f"{kubeconfig}: {exc}") from None


async def wait_api(client: RESTClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            await client.list(NODES)  # a round trip through the datastore, not only the process
            return
        except Exception as exc:  # not up yet: connection refused, 503, TLS reset ...
            last = str(exc) or type(exc).__name__
        await asyncio.sleep(1)
    raise StepError(f"the API did not answer within {timeout:.0f}s (last error: {last})")


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(obj))
    meta = copy.get("metadata") or {}
    for key in VOLATILE:
        meta.pop(key, None)
    copy.pop("status", None)
    return copy


async def addons_differ(client: RESTClient, names: list[str], values: AddonValues) -> bool:
    """Would applying the addons change anything? (dry-run apply vs the stored object)"""
    for name in names:
        for obj in render(name, values):
            resource = resource_of(obj)
            meta = obj.get("metadata") or {}
            namespace = (meta.get("namespace") or "kube-system") if resource.namespaced else None
            try:
                stored = await client.get(resource, name=meta["name"], namespace=namespace)
            except errors.StatusError as exc:
                if exc.code == 404:
                    return True
                raise
            would = await client.patch(
                resource,
                obj,
                name=meta["name"],
                namespace=namespace,
                patch_type="apply",
                field_manager="kubeling-addons",
                force=True,
                dry_run=True,
            )
            if _comparable(would) != _comparable(stored):
                return True
    return False


async def wait_nodes(client: RESTClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while True:
        items = (await client.list(NODES)).get("items") or []
        ready = {
            n["metadata"]["name"]
            for n in items
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            )
        }
        pending = set(names) - ready
        if not pending:
            return
        if time.monotonic() > deadline:
            raise StepError(f"nodes not Ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
        await asyncio.sleep(2)


async def nodes_not_at(client: RESTClient, names: list[str], version: str) -> list[str]:
    """The named nodes whose kubelet does not report kubeling ``version`` (missing ones included)."""
    from kubeling.upgrade.skew import BadVersion, kubeling_version_of

    reported: dict[str, str] = {}
    for node in (await client.list(NODES)).get("items") or []:
        info = (node.get("status") or {}).get("nodeInfo") or {}
        try:
            reported[node["metadata"]["name"]] = kubeling_version_of(str(info.get("kubeletVersion") or ""))
        except BadVersion:
            continue
    return sorted(name for name in names if reported.get(name) != version)


def _rolled_out(obj: dict[str, Any]) -> bool:
    """``kubectl rollout status``'s test for a Deployment or a DaemonSet."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    if obj.get("kind") == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        return (
            int(status.get("updatedNumberScheduled") or 0) >= desired
            and int(status.get("numberAvailable") or 0) >= desired
        )
    replicas = int(spec.get("replicas", 1))
    return (
        int(status.get("updatedReplicas") or 0) >= replicas
        and int(status.get("replicas") or 0) <= replicas  # no old pods left over
        and int(status.get("availableReplicas") or 0) >= replicas
    )


async def wait_addons(client: RESTClient, names: list[str], values: AddonValues, timeout: float) -> None:
    rendered = [obj for name in names for obj in render(name, values)]
    workloads = [obj for obj in rendered if obj.get("kind") in ("Deployment", "DaemonSet")]
    deadline = time.monotonic() + timeout
    while True:
        pending = []
        for obj in workloads:
            meta = obj.get("metadata") or {}
            namespace = meta.get("namespace") or "kube-system"
            stored = await client.get(resource_of(obj), name=meta["name"], namespace=namespace)
            if not _rolled_out(stored):
                pending.append(f"{obj['kind']} {namespace}/{meta['name']}")
        if not pending:
            return
        if time.monotonic() > deadline:
            raise StepError(f"not rolled out after {timeout:.0f}s: {', '.join(pending)}")
        await asyncio.sleep(2)


async def unlabelled(client: RESTClient, names: list[str]) -> list[str]:
    missing = []
    for name in names:
        node = await client.get(NODES, name=name)
        if ROLE_LABEL not in ((node.get("metadata") or {}).get("labels") or {}):
            missing.append(name)
    return missing


async def _main(args: argparse.Namespace) -> str:
    client = _client(args.kubeconfig)
    try:
        if args.step == "wait-api":
            await wait_api(client, args.timeout)
            return "unchanged"
        if args.step == "wait-nodes":
            await wait_nodes(client, args.nodes, args.timeout)
            return "unchanged"
        if args.step == "wait-addons":
            await wait_addons(client, args.addons, AddonValues(**json.loads(args.values)), args.timeout)
            return "unchanged"
        if args.step == "addons":
            values = AddonValues(**json.loads(args.values))
            if args.only_if_nodes_at:
                behind = await nodes_not_at(client, args.nodes, args.only_if_nodes_at)
                if behind:
                    print(
                        f"addons left as they are: {', '.join(behind)} not at {args.only_if_nodes_at}",
                        file=sys.stderr,
                    )
                    return "unchanged"
            if args.check:
                return "changed" if await addons_differ(client, args.addons, values) else "unchanged"
            for name in args.addons:
                await apply(client, render(name, values))
            return "changed"
        if args.step == "label-control-planes":
            missing = await unlabelled(client, args.nodes)
            if args.check or not missing:
                return "changed" if missing else "unchanged"
            for name in missing:
                patch = {"metadata": {"labels": {ROLE_LABEL: ""}}}
                await client.patch(NODES, patch, name=name, patch_type="merge")
            return "changed"
        raise StepError(f"unknown step {args.step}")
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploys.tasks.api")
    p.add_argument(
        "step", choices=("wait-api", "addons", "wait-addons", "wait-nodes", "label-control-planes")
    )
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--check", action="store_true", help="only print changed/unchanged")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--nodes", type=lambda v: [n for n in v.split(",") if n], default=[])
    p.add_argument("--addons", type=lambda v: [n for n in v.split(",") if n], default=[])
    p.add_argument("--values", default="{}", help="AddonValues as JSON")
    p.add_argument(
        "--only-if-nodes-at", default="", help="addons: act only when every --nodes kubelet is at V"
    )
    args = p.parse_args(argv)
    try:
        print(asyncio.run(_main(args)))
    except (StepError, AddonError, errors.StatusError, OSError) as exc:
        print(f"{args.step}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
