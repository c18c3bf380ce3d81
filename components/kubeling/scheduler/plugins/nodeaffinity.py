"""NodeAffinity: ``nodeSelector`` and required node affinity filter; preferred terms score.

PreFilter skips pods with neither a selector nor required terms; PreScore
skips pods without preferred terms.  A node's score is the sum of the weights
of the preferred terms it matches, scaled so the best node gets 100.
"""

from __future__ import annotations

from kubeling.api.scheduling import required_node_affinity_matches, term_matches
from kubeling.scheduler.framework import (
    SKIP,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
    default_normalize,
)

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"


def _node_affinity(pod: PodInfo) -> dict:
    return ((pod.pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}


class NodeAffinity:
    name = NAME
    weight = 2

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        spec = pod.pod.get("spec") or {}
        if not spec.get("nodeSelector") and not _node_affinity(pod).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        ):
            return SKIP
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if required_node_affinity_matches(pod.pod, node.name, node.labels):
            return None
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        preferred = _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or []
        if not preferred:
            return SKIP
        state[NAME] = [(int(p.get("weight") or 0), p.get("preference") or {}) for p in preferred]
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(weight for weight, term in state[NAME] if term_matches(term, node.name, node.labels))

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=False)
