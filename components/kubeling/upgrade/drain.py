"""Cordon, drain and uncordon a node through the API, as ``kubectl drain --ignore-daemonsets`` does.

Draining evicts every pod on the node through the ``pods/eviction``
subresource, so PodDisruptionBudgets decide: a 429 (the budget allows no
disruption now) is retried every :data:`EVICTION_RETRY` seconds until the
deadline, while the workload's controller brings up a replacement elsewhere.
Left alone, as upstream: mirror pods (static pods belong to the node's
kubelet) and pods a DaemonSet owns (it would recreate them on the node at
once).  Pods without a controller are refused unless ``force``: nothing would
bring them back.  Draining ends when every evicted pod is gone from the node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from kubeling.api import errors
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)

NODES = StaticResource("", "v1", "nodes", False)
PODS = StaticResource("", "v1", "pods", True)
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
EVICTION_RETRY = 5.0  # kubectl drain's wait between refused evictions
Obj = dict[str, Any]


class DrainError(RuntimeError):
    """The node could not be drained; the message names the pods and why."""


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


async def set_unschedulable(client: RESTClient, node: str, unschedulable: bool) -> bool:
    """Cordon (True) or uncordon (False); returns whether the Node changed."""
    current = await client.get(NODES, name=node)
    if bool((current.get("spec") or {}).get("unschedulable")) == unschedulable:
        return False
    await client.patch(
        NODES, {"spec": {"unschedulable": unschedulable or None}}, name=node, patch_type="merge"
    )
    return True


def _owner_kinds(pod: Obj) -> set[str]:
    return {
        str(o.get("kind"))
        for o in (pod.get("metadata") or {}).get("ownerReferences") or []
        if o.get("controller")
    }


def pods_to_evict(pods: list[Obj], *, force: bool = False) -> list[PodRef]:
    """The pods of a node that draining evicts; unmanaged ones refused unless ``force`` (pure)."""
    chosen, unmanaged = [], []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}) or "DaemonSet" in _owner_kinds(pod):
            continue
        if meta.get("deletionTimestamp"):
            continue  # already terminating: its owner has replaced it
        ref = PodRef(str(meta.get("namespace") or "default"), str(meta["name"]), str(meta.get("uid") or ""))
        if not _owner_kinds(pod) and not force:
            unmanaged.append(str(ref))
        chosen.append(ref)
    if unmanaged:
        raise DrainError(
            f"pods not managed by a controller would be lost: "
            f"{', '.join(unmanaged)} (drain with force to delete them)"
        )
    return chosen


async def _evict(client: RESTClient, pod: PodRef) -> str | None:
    """One eviction; None when done (evicted or gone), else why it was refused this time."""
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
    }
    try:
        await client.create(PODS, body, namespace=pod.namespace, name=pod.name, subresource="eviction")
    except errors.StatusError as exc:
        if exc.code == 404:
            return None
        if exc.code == 429:
            return str(exc)
        raise DrainError(f"evicting {pod}: {exc}") from None
    return None


async def _gone(client: RESTClient, pod: PodRef) -> bool:
    try:
        current = await client.get(PODS, name=pod.name, namespace=pod.namespace)
    except errors.StatusError as exc:
        if exc.code == 404:
            return True
        raise
    return str((current.get("metadata") or {}).get("uid")) != pod.uid


async def drain(
    client: RESTClient, node: str, *, timeout: float = 300.0, force: bool = False
) -> list[PodRef]:
    """Cordon ``node`` and evict its pods, honouring PodDisruptionBudgets; returns the pods evicted."""
    deadline = time.monotonic() + timeout
    await set_unschedulable(client, node, True)
    listed = await client.list(PODS, field_selector=f"spec.nodeName={node}")
    pending = pods_to_evict(listed.get("items") or [], force=force)
    evicted = list(pending)
    refusals: dict[PodRef, str] = {}
    while pending:
        still = []
        for pod in pending:
            refused = await _evict(client, pod)
            if refused is not None:
                refusals[pod] = refused
                still.append(pod)
            else:
                log.info("evicted %s from %s", pod, node)
        pending = still
        if pending and time.monotonic() + EVICTION_RETRY > deadline:
            reasons = "; ".join(f"{p}: {refusals[p]}" for p in pending)
            raise DrainError(f"draining {node}: evictions still refused after {timeout:.0f}s: {reasons}")
        if pending:
            await asyncio.sleep(EVICTION_RETRY)
    waiting = list(evicted)
    while waiting:
        waiting = [p for p in waiting if not await _gone(client, p)]
        if waiting and time.monotonic() > deadline:
            names = ", ".join(map(str, waiting))
            raise DrainError(f"draining {node}: pods evicted but not gone after {timeout:.0f}s: {names}")
        if waiting:
            await asyncio.sleep(1)
    return evicted
