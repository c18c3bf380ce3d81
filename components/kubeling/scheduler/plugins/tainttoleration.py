"""TaintToleration: NoSchedule/NoExecute taints filter, PreferNoSchedule taints score.

The score counts untolerated PreferNoSchedule taints and is normalized in
reverse (fewer is better).  When no candidate node has such a taint every
node would get the same score, so PreScore skips.
"""

from __future__ import annotations

from kubeling.api.scheduling import first_untolerated, tolerated
from kubeling.scheduler.framework import (
    SKIP,
    ClusterView,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
    default_normalize,
)

NAME = "TaintToleration"
REASON = "node(s) had untolerated taint(s)"
_FILTER_EFFECTS = ("NoSchedule", "NoExecute")


class TaintToleration:
    name = NAME
    weight = 3

    def __init__(self, cluster: ClusterView | None = None) -> None:
        self.cluster = cluster

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        if self.cluster is not None and not self.cluster.count("filter_taints"):
            return SKIP  # no node has a NoSchedule/NoExecute taint
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        tolerations = (pod.pod.get("spec") or {}).get("tolerations") or []
        if first_untolerated(node.taints, tolerations, _FILTER_EFFECTS) is None:
            return None
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if self.cluster is not None and not self.cluster.count("prefer_taints"):
            return SKIP
        if not any(node.prefer_no_schedule_taints for node in nodes):
            return SKIP
        tolerations = (pod.pod.get("spec") or {}).get("tolerations") or []
        # An empty effect tolerates every effect, PreferNoSchedule included.
        state[NAME] = [t for t in tolerations if t.get("effect") in (None, "", "PreferNoSchedule")]
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tolerations = state[NAME]
        return sum(
            1 for t in node.taints if t.get("effect") == "PreferNoSchedule" and not tolerated(tolerations, t)
        )

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
