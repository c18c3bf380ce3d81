"""taint-eviction-controller: delete pods from Nodes with NoExecute taints they don't tolerate.

Upstream's taint manager, a controller of its own since 1.29 (it used to live in node
lifecycle).  It works on pod keys only:

- a pod bound to a Node is queued when it is added or changes; every pod on a Node is queued
  when the Node's NoExecute taints change (anyone's taints, not only node lifecycle's) or the
  Node goes away;
- a sync looks at the pod's Node: a pod that does not tolerate one of its NoExecute taints is
  deleted at once; one tolerating them all is deleted once the shortest matching
  ``tolerationSeconds`` has passed since this controller first saw it exposed (never without
  one), by requeueing itself for the time left.  Before deleting, the pod gets the
  ``DisruptionTarget`` condition (``DeletionByTaintManager``) and a ``TaintManagerEviction`` event;
  a pod that stops being exposed before its time gets a "Cancelling deletion" event.

As upstream, it acts with the ``node-controller`` ServiceAccount's role.
"""

from __future__ import annotations

import logging

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers import nodetaints as nt
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.podutil import BY_NODE, now_rfc3339, pod_node_index
from kubeling.controllers.resources import NODES, PODS

log = logging.getLogger(__name__)


def no_execute_taints(node: Obj | None) -> list[Obj]:
    return [
        t for t in ((node or {}).get("spec") or {}).get("taints") or [] if t.get("effect") == nt.NO_EXECUTE
    ]


def _taint_set(node: Obj | None) -> frozenset[tuple[str, str, str]]:
    return frozenset(
        (t.get("key", ""), t.get("value", ""), t.get("effect", "")) for t in no_execute_taints(node)
    )


class TaintEvictionController(Controller):
    name = "taint-eviction-controller"
    service_account = "node-controller"  # upstream reuses node-controller's role
    component = "taint-eviction-controller"
    workers = 8

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pods = self.informer(PODS, indexers={BY_NODE: pod_node_index})
        self.pods.add_event_handler(
            on_add=self._pod_changed, on_update=lambda _old, new: self._pod_changed(new)
        )
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(
            on_add=self._node_changed,
            on_update=self._node_updated,
            on_delete=self._node_changed,
        )
        self.exposed_since: dict[str, tuple[str, float]] = {}  # pod key → (uid, first seen exposed)

    # -- handlers ---------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.enqueue(pod)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if _taint_set(old) != _taint_set(new):
            self._node_changed(new)

    def _node_changed(self, node: Obj) -> None:
        for pod in self.pods.store.by_index(BY_NODE, node["metadata"]["name"]):
            self.enqueue(pod)

    # -- sync ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.store.get(key)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        node = self.nodes.store.get(node_name) if node_name else None
        if pod is None or node is None or pod["metadata"].get("deletionTimestamp"):
            self.exposed_since.pop(key, None)
            return None
        taints = no_execute_taints(node)
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        delay = nt.toleration_delay(tolerations, taints) if taints else None
        uid = pod["metadata"]["uid"]
        if delay is None:
            if self.exposed_since.pop(key, None) is not None:
                self.recorder.event(
                    pod, "Normal", "TaintManagerEviction", f"Cancelling deletion of Pod {key}"
                )
            return None
        seen = self.exposed_since.get(key)
        if seen is None or seen[0] != uid:
            seen = self.exposed_since[key] = (uid, self.clock.now())
        remaining = seen[1] + delay - self.clock.now()
        if remaining > 0:
            return remaining
        await self._evict(pod)
        self.exposed_since.pop(key, None)
        return None

    async def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        self.recorder.event(
            pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {namespace}/{name}"
        )
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": now_rfc3339(),
        }
        try:
            await self.client.patch(
                PODS,
                {"metadata": {"uid": meta["uid"]}, "status": {"conditions": [condition]}},
                name=name,
                namespace=namespace,
                subresource="status",
                patch_type="strategic",
            )
            await self.client.delete(PODS, name=name, namespace=namespace, preconditions={"uid": meta["uid"]})
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
        log.info("taint eviction: deleted pod %s/%s from node %s", namespace, name, pod["spec"]["nodeName"])
