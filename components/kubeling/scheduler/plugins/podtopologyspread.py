"""PodTopologySpread: ``topologySpreadConstraints`` (DoNotSchedule filters, ScheduleAnyway scores).

For each constraint, PreFilter counts the pods matching its selector (same
namespace, not terminating) per topology value, over the nodes that qualify:
nodes with every constraint's topology key and, under the default
``nodeAffinityPolicy: Honor``, matching the pod's node selector and required
node affinity (``nodeTaintsPolicy`` defaults to Ignore).  ``matchLabelKeys``
adds the pod's own values for those keys to the selector.

Filter: placing the pod in a domain must keep ``count + self - global min``
within ``maxSkew``; the global minimum is 0 while there are fewer domains
than ``minDomains``.  Nodes without the topology key are rejected as
unresolvable.

Score (ScheduleAnyway constraints): fewer matching pods in a node's domains
is better; each constraint weighs ``log(domains + 2)``, and scores are
flipped onto 0..100.  Both phases skip pods without constraints of their kind.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from kubeling.api.selectors import LabelSelector, label_selector_from_dict
from kubeling.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    ClusterView,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
)
from kubeling.scheduler.matching import first_untolerated, required_node_affinity_matches

NAME = "PodTopologySpread"
REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"


class Constraint:
    __slots__ = ("affinity_policy", "max_skew", "min_domains", "selector", "taints_policy", "topology_key")

    def __init__(self, raw: dict[str, Any], pod: PodInfo) -> None:
        selector = dict(raw.get("labelSelector") or {})
        keys = raw.get("matchLabelKeys") or []
        if keys:
            extra = [{"key": k, "operator": "In", "values": [pod.labels[k]]} for k in keys if k in pod.labels]
            selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *extra]
        given = selector if raw.get("labelSelector") else None
        self.selector: LabelSelector = label_selector_from_dict(given)
        self.topology_key: str = raw.get("topologyKey") or ""
        self.max_skew = int(raw.get("maxSkew") or 1)
        self.min_domains = int(raw.get("minDomains") or 1)
        self.affinity_policy = raw.get("nodeAffinityPolicy") or "Honor"
        self.taints_policy = raw.get("nodeTaintsPolicy") or "Ignore"


def constraints(pod: PodInfo, when: str) -> list[Constraint]:
    raw = pod.spread_constraints
    if not raw:
        return []
    return [Constraint(c, pod) for c in raw if (c.get("whenUnsatisfiable") or "DoNotSchedule") == when]


def _qualifies(pod: PodInfo, node: NodeInfo, items: list[Constraint]) -> bool:
    if any(c.topology_key not in node.labels for c in items):
        return False
    if any(c.affinity_policy == "Honor" for c in items) and not required_node_affinity_matches(
        pod.pod, node.name, node.labels
    ):
        return False
    if any(c.taints_policy == "Honor" for c in items):
        tolerations = (pod.pod.get("spec") or {}).get("tolerations") or []
        if first_untolerated(node.taints, tolerations, ("NoSchedule", "NoExecute")) is not None:
            return False
    return True


def count_matching(pod: PodInfo, node: NodeInfo, constraint: Constraint) -> int:
    return sum(
        1
        for other in node.pods.values()
        if other.namespace == pod.namespace
        and not (other.pod.get("metadata") or {}).get("deletionTimestamp")
        and constraint.selector.matches(other.labels)
    )


class _FilterState:
    __slots__ = ("constraints", "counts", "minimums")

    def __init__(self, items: list[Constraint]) -> None:
        self.constraints = items
        self.counts: list[Counter[str]] = [Counter() for _ in items]
        self.minimums: list[int] = []


class PodTopologySpread:
    name = NAME
    weight = 2

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        items = constraints(pod, "DoNotSchedule")
        if not items:
            return SKIP
        data = _FilterState(items)
        for node in self.cluster.node_infos():
            if not _qualifies(pod, node, items):
                continue
            for constraint, counts in zip(items, data.counts, strict=True):
                value = node.labels[constraint.topology_key]
                counts[value] += count_matching(pod, node, constraint)
        for constraint, counts in zip(items, data.counts, strict=True):
            if len(counts) < constraint.min_domains:
                data.minimums.append(0)
            else:
                data.minimums.append(min(counts.values(), default=0))
        state[NAME] = data
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        data: _FilterState = state[NAME]
        for constraint, counts, minimum in zip(data.constraints, data.counts, data.minimums, strict=True):
            value = node.labels.get(constraint.topology_key)
            if value is None:
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, MISSING_LABEL_REASON, plugin=NAME)
            self_match = 1 if constraint.selector.matches(pod.labels) else 0
            if counts.get(value, 0) + self_match - minimum > constraint.max_skew:
                return Status(Code.UNSCHEDULABLE, REASON, plugin=NAME)
        return None

    # -- score -----------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        items = constraints(pod, "ScheduleAnyway")
        if not items:
            return SKIP
        counts: list[Counter[str]] = [Counter() for _ in items]
        candidates = {n.name for n in nodes}
        for node in self.cluster.node_infos():
            if not _qualifies(pod, node, items):
                continue
            for constraint, counter in zip(items, counts, strict=True):
                # Hostname domains count only candidate nodes, as upstream.
                if constraint.topology_key == "kubernetes.io/hostname" and node.name not in candidates:
                    continue
                counter[node.labels[constraint.topology_key]] += count_matching(pod, node, constraint)
        weights = [math.log(len(counter) + 2) for counter in counts]
        state[NAME + "/score"] = (items, counts, weights)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        items, counts, weights = state[NAME + "/score"]
        total = 0.0
        for constraint, counter, weight in zip(items, counts, weights, strict=True):
            value = node.labels.get(constraint.topology_key)
            if value is None:
                return -1  # ignored node: scored 0 after normalizing
            self_match = 1 if constraint.selector.matches(pod.labels) else 0
            total += (counter.get(value, 0) + (constraint.max_skew - 1) + self_match) * weight
        return round(total)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        valid = [s for s in scores if s >= 0]
        if not valid:
            return
        low, high = min(valid), max(valid)
        for i, value in enumerate(scores):
            if value < 0:
                scores[i] = 0
            elif high == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (high + low - value) // high
