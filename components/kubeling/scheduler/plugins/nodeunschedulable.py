"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods that tolerate it."""

from __future__ import annotations

from kubeling.api.scheduling import tolerated
from kubeling.scheduler.framework import SKIP, ClusterView, Code, CycleState, NodeInfo, PodInfo, Status

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = NAME

    def __init__(self, cluster: ClusterView | None = None) -> None:
        self.cluster = cluster

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        # No cordoned node anywhere: the per-node check cannot reject, so skip it.
        if self.cluster is not None and not self.cluster.count("unschedulable"):
            return SKIP
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable:
            return None
        if tolerated((pod.pod.get("spec") or {}).get("tolerations") or [], _TAINT):
            return None
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)
