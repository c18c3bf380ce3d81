"""NodeName: a pod that names its node (``spec.nodeName``) fits only there."""

from __future__ import annotations

from kubeling.scheduler.framework import SKIP, Code, CycleState, NodeInfo, PodInfo, Status

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if (pod.pod.get("spec") or {}).get("nodeName") else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if pod.pod["spec"]["nodeName"] == node.name:
            return None
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)
