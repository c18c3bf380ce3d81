"""Static pods from ``--pod-manifest-path`` and their mirror pods in the API.

Each manifest file (YAML or JSON, one Pod; dotfiles ignored) becomes a pod
named ``<name>-<node>`` bound to this node.  Its uid is a hash of the
defaulted manifest and the node name, so an unchanged file keeps its pod
across kubelet restarts and an edited one becomes a new pod (the old one is
stopped, the new one started).  Annotations as upstream:
``kubernetes.io/config.source: file`` and ``kubernetes.io/config.hash``;
the mirror pod the kubelet creates in the API also carries
``kubernetes.io/config.mirror`` and an ownerReference to the Node (which
NodeRestriction requires).  The kubelet reports the static pod's status on
its mirror and recreates a mirror that was deleted.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from kubeling.api import errors
from kubeling.api.defaults import apply_defaults
from kubeling.kubelet.hollow import PODS

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SOURCE = "kubernetes.io/config.source"
HASH = "kubernetes.io/config.hash"
MIRROR = "kubernetes.io/config.mirror"
SEEN = "kubernetes.io/config.seen"


def is_mirror(pod: Obj) -> bool:
    return MIRROR in ((pod.get("metadata") or {}).get("annotations") or {})


def static_pod(manifest: Obj, node_name: str, source: str = "") -> Obj:
    """The pod the kubelet runs for one manifest: name, namespace, uid, annotations, nodeName."""
    if manifest.get("kind", "Pod") != "Pod":
        raise ValueError(f"{source}: kind {manifest.get('kind')!r} is not Pod")
    pod = copy.deepcopy(manifest)
    pod.setdefault("apiVersion", "v1")
    pod["kind"] = "Pod"
    meta = pod.setdefault("metadata", {})
    if not meta.get("name"):
        raise ValueError(f"{source}: metadata.name is required")
    meta["name"] = f"{meta['name']}-{node_name}"
    meta["namespace"] = meta.get("namespace") or "default"
    for key in ("uid", "resourceVersion", "creationTimestamp", "selfLink"):
        meta.pop(key, None)
    spec = pod.setdefault("spec", {})
    spec["nodeName"] = node_name
    apply_defaults(PODS, pod)
    # upstream: static pods tolerate every NoExecute taint
    tolerations = spec.setdefault("tolerations", [])
    if {"operator": "Exists", "effect": "NoExecute"} not in tolerations:
        tolerations.append({"operator": "Exists", "effect": "NoExecute"})
    digest = hashlib.md5(json.dumps(pod, sort_keys=True).encode() + node_name.encode()).hexdigest()
    meta["uid"] = digest
    annotations = meta.setdefault("annotations", {})
    annotations[SOURCE] = "file"
    annotations[HASH] = digest
    pod["status"] = {"phase": "Pending"}
    return pod


def read_manifests(path: str, node_name: str) -> dict[str, Obj]:
    """uid -> static pod for every readable manifest; a bad file is logged and skipped."""
    pods: dict[str, Obj] = {}
    directory = Path(path)
    if not path or not directory.is_dir():
        return pods
    for file in sorted(directory.iterdir()):
        if file.name.startswith(".") or not file.is_file():
            continue
        try:
            manifest = yaml.safe_load(file.read_text())
            if not isinstance(manifest, dict):
                raise ValueError(f"{file}: not a Pod document")
            pod = static_pod(manifest, node_name, str(file))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.warning("static pod manifest %s skipped: %s", file, exc)
            continue
        pods[pod["metadata"]["uid"]] = pod
    return pods


def mirror_pod(pod: Obj, node_uid: str) -> Obj:
    mirror = copy.deepcopy(pod)
    meta = mirror["metadata"]
    meta.pop("uid", None)
    meta["annotations"][MIRROR] = meta["annotations"][HASH]
    meta["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "name": pod["spec"]["nodeName"],
            "uid": node_uid,
            "controller": True,
        }
    ]
    mirror.pop("status", None)
    return mirror


class MirrorPods:
    """Keeps one mirror pod in the API per static pod (create, replace when the hash differs, delete)."""

    def __init__(self, client: Any, pods_resource: Any, nodes_resource: Any, node_name: str) -> None:
        self.client = client
        self.pods = pods_resource
        self.nodes = nodes_resource
        self.node_name = node_name
        self._node_uid = ""

    async def node_uid(self) -> str:
        if not self._node_uid:
            node = await self.client.get(self.nodes, name=self.node_name)
            self._node_uid = node["metadata"]["uid"]
        return self._node_uid

    async def sync(self, static: dict[str, Obj], api_pods: list[Obj]) -> None:
        """Make the API's mirror pods match the static pods; ``api_pods``: the node's pods (cache)."""
        wanted = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in static.values()}
        mirrors = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in api_pods if is_mirror(p)}
        for key, mirror in mirrors.items():
            pod = wanted.get(key)
            current = mirror["metadata"]["annotations"][MIRROR]
            if (
                pod is None
                or current != pod["metadata"]["uid"]
                or mirror["metadata"].get("deletionTimestamp")
            ):
                await self._delete(mirror)
        for key, pod in wanted.items():
            mirror = mirrors.get(key)
            current = (
                mirror is not None and mirror["metadata"]["annotations"][MIRROR] == pod["metadata"]["uid"]
            )
            if current and mirror is not None and not mirror["metadata"].get("deletionTimestamp"):
                continue
            try:
                await self.client.create(self.pods, mirror_pod(pod, await self.node_uid()), namespace=key[0])
            except errors.StatusError as exc:
                if exc.code != 409:  # 409: the old mirror is still going away; the next round retries
                    log.warning("mirror pod %s/%s: %s", key[0], key[1], exc)

    async def _delete(self, mirror: Obj) -> None:
        meta = mirror["metadata"]
        try:
            await self.client.delete(
                self.pods,
                namespace=meta["namespace"],
                name=meta["name"],
                grace_period_seconds=0,
                preconditions={"uid": meta["uid"]},
            )
        except errors.StatusError as exc:
            if exc.code not in (404, 409):
                raise
