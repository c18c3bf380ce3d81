"""The pod garbage collector: removes pods nothing else will ever remove.

Every ``options.extra["podgc_period"]`` seconds (20, as upstream's
gcCheckPeriod) one pass over the pod and node caches:

1. **terminated pods** (Succeeded or Failed) above
   ``options.terminated_pod_gc_threshold`` are deleted, evicted ones first,
   then oldest first;
2. **terminating pods on out-of-service nodes** (NotReady and tainted
   ``node.kubernetes.io/out-of-service``) are force-deleted;
3. **orphaned pods**, bound to a node that does not exist, are deleted once
   the node has been missing for a quarantine
   (``options.extra["podgc_quarantine"]``, 40 s as upstream) and a live GET
   confirms it is gone; they first get the ``DisruptionTarget`` condition
   (reason DeletionByPodGC) and phase Failed;
4. **unscheduled terminating pods** (deletionTimestamp, no node) are
   force-deleted.

"Force" is a delete with ``gracePeriodSeconds: 0``; a pod not yet terminal
is first marked Failed (status patch), as upstream does, so its owner
counts it right.
"""

from __future__ import annotations

import logging
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.podutil import is_terminal, now_rfc3339, parse_time
from kubeling.controllers.resources import NODES, PODS

log = logging.getLogger(__name__)

GC_KEY = "gc"
DEFAULT_PERIOD = 20.0
DEFAULT_QUARANTINE = 40.0
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
REASON = "DeletionByPodGC"


def terminated_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """The terminated pods beyond ``threshold``: evicted first, then oldest first."""
    if threshold <= 0:
        return []
    terminated = [p for p in pods if is_terminal(p)]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []

    def order(pod: Obj) -> tuple[bool, float, str]:
        evicted = (pod.get("status") or {}).get("reason") == "Evicted"
        created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
        return (not evicted, created, pod["metadata"].get("name", ""))

    return sorted(terminated, key=order)[:excess]


def is_deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def unscheduled_terminating(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if is_deleting(p) and not (p.get("spec") or {}).get("nodeName")]


def node_ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def out_of_service(node: Obj) -> bool:
    taints = (node.get("spec") or {}).get("taints") or []
    return not node_ready(node) and any(t.get("key") == OUT_OF_SERVICE for t in taints)


def terminating_out_of_service(pods: list[Obj], nodes: dict[str, Obj]) -> list[Obj]:
    found = []
    for pod in pods:
        node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if is_deleting(pod) and node is not None and out_of_service(node):
            found.append(pod)
    return found


def missing_nodes(pods: list[Obj], nodes: dict[str, Obj]) -> set[str]:
    """Names of nodes pods are bound to that the node cache does not hold."""
    return {name for p in pods if (name := (p.get("spec") or {}).get("nodeName")) and name not in nodes}


class PodGCController(Controller):
    name = "pod-garbage-collector-controller"
    service_account = "pod-garbage-collector"
    workers = 1  # one pass at a time

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.period = float(self.options.extra.get("podgc_period", DEFAULT_PERIOD))
        self.quarantine = float(self.options.extra.get("podgc_quarantine", DEFAULT_QUARANTINE))
        self.threshold = int(self.options.terminated_pod_gc_threshold)
        self.pods = self.informer(PODS)
        self.nodes = self.informer(NODES)
        self.missing_since: dict[str, float] = {}  # node name → when the cache first lacked it
        self.queue.add(GC_KEY)

    async def reconcile(self, key: str) -> float | None:
        pods = self.pods.store.list()
        nodes = {n["metadata"]["name"]: n for n in self.nodes.store.list()}
        for pod in terminated_to_delete(pods, self.threshold):
            await self._delete(pod, condition=None)
        for pod in terminating_out_of_service(pods, nodes):
            await self._delete(pod, condition=None)
        next_check = await self._gc_orphaned(pods, nodes)
        for pod in unscheduled_terminating(pods):
            await self._delete(pod, condition=None)
        return min(self.period, next_check) if next_check is not None else self.period

    async def _gc_orphaned(self, pods: list[Obj], nodes: dict[str, Obj]) -> float | None:
        """Delete pods of nodes gone past the quarantine; returns when the next quarantine ends."""
        now = self.clock.now()
        missing = missing_nodes(pods, nodes)
        for name in list(self.missing_since):
            if name not in missing:
                del self.missing_since[name]
        next_check: float | None = None
        deleted_nodes: set[str] = set()
        for name in sorted(missing):
            since = self.missing_since.setdefault(name, now)
            wait = since + self.quarantine - now
            if wait > 0:
                next_check = wait if next_check is None else min(next_check, wait)
            elif await self._node_gone(name):
                deleted_nodes.add(name)
            else:
                del self.missing_since[name]  # it exists after all: the cache lagged
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": REASON,
            "message": "PodGC: node no longer exists",
        }
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in deleted_nodes:
                log.info(
                    "pod gc: deleting orphaned pod %s/%s",
                    pod["metadata"]["namespace"],
                    pod["metadata"]["name"],
                )
                await self._delete(pod, condition=condition)
        return next_check

    async def _node_gone(self, name: str) -> bool:
        try:
            await self.client.get(NODES, name=name)
        except StatusError as exc:
            if exc.code == 404:
                return True
            raise
        return False

    async def _delete(self, pod: Obj, *, condition: dict[str, Any] | None) -> None:
        """Mark a live pod Failed (with ``condition``), then delete it with no grace period."""
        meta = pod["metadata"]
        try:
            if not is_terminal(pod):
                status: Obj = {"phase": "Failed"}
                if condition is not None:
                    status["conditions"] = [{**condition, "lastTransitionTime": now_rfc3339()}]
                await self.client.patch(
                    PODS,
                    {"status": status},
                    name=meta["name"],
                    namespace=meta["namespace"],
                    subresource="status",
                    patch_type="strategic",
                )
            await self.client.delete(
                PODS,
                name=meta["name"],
                namespace=meta["namespace"],
                grace_period_seconds=0,
                preconditions={"uid": meta["uid"]},
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
