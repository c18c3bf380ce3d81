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

A pod with no constraints at all gets upstream's *system defaults* for
scoring (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway) over the
selector of the Services, ReplicationControllers, ReplicaSets and
StatefulSets that select it, so replicas spread without asking; nodes
missing a default key are simply not counted for that key.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from kubeling.api.scheduling import first_untolerated, required_node_affinity_matches
from kubeling.api.selectors import LabelSelector
from kubeling.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    ClusterView,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
    selector_of,
)

NAME = "PodTopologySpread"
REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SYSTEM_DEFAULTS = ((HOSTNAME, 3), (ZONE, 5))
DefaultSelector = Callable[[PodInfo], LabelSelector | None]


class Constraint:
    __slots__ = ("affinity_policy", "max_skew", "min_domains", "selector", "taints_policy", "topology_key")

    def __init__(
        self, raw: dict[str, Any], pod: PodInfo, selector_override: LabelSelector | None = None
    ) -> None:
        selector = dict(raw.get("labelSelector") or {})
        keys = raw.get("matchLabelKeys") or []
        if keys:
            extra = [{"key": k, "operator": "In", "values": [pod.labels[k]]} for k in keys if k in pod.labels]
            selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *extra]
        given = selector if raw.get("labelSelector") else None
        self.selector: LabelSelector = selector_override or selector_of(given)
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

    def clone(self) -> _FilterState:
        copy = _FilterState(self.constraints)
        copy.counts = [Counter(c) for c in self.counts]
        copy.minimums = list(self.minimums)
        return copy

    def refresh_minimums(self) -> None:
        self.minimums = [
            0 if len(counts) < c.min_domains else min(counts.values(), default=0)
            for c, counts in zip(self.constraints, self.counts, strict=True)
        ]


class PodTopologySpread:
    name = NAME
    weight = 2

    def __init__(self, cluster: ClusterView, default_selector: DefaultSelector | None = None) -> None:
        self.cluster = cluster
        self.default_selector = default_selector

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
        data.refresh_minimums()
        state[NAME] = data
        return None

    def update_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, sign: int) -> None:
        """Preemption took ``other`` off ``node`` (sign -1) or put it back (+1)."""
        data: _FilterState | None = state.get(NAME)
        if data is None or other.namespace != pod.namespace or not _qualifies(pod, node, data.constraints):
            return
        for constraint, counts in zip(data.constraints, data.counts, strict=True):
            if constraint.selector.matches(other.labels):
                counts[node.labels[constraint.topology_key]] += sign
        data.refresh_minimums()

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
        system = False
        if not items and not pod.spread_constraints and self.default_selector is not None:
            selector = self.default_selector(pod)
            if selector is not None:
                items = [
                    Constraint({"maxSkew": s, "topologyKey": k}, pod, selector) for k, s in SYSTEM_DEFAULTS
                ]
                system = True
        if not items:
            return SKIP
        counts: list[Counter[str]] = [Counter() for _ in items]
        candidates = {n.name for n in nodes}
        for node in self.cluster.node_infos():
            if system:
                if not required_node_affinity_matches(pod.pod, node.name, node.labels):
                    continue
            elif not _qualifies(pod, node, items):
                continue
            for constraint, counter in zip(items, counts, strict=True):
                value = node.labels.get(constraint.topology_key)
                # Hostname domains count only candidate nodes, as upstream.
                if value is None or (constraint.topology_key == HOSTNAME and node.name not in candidates):
                    continue
                counter[value] += count_matching(pod, node, constraint)
        weights = [math.log(len(counter) + 2) for counter in counts]
        state[NAME + "/score"] = (items, counts, weights, system)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        items, counts, weights, system = state[NAME + "/score"]
        total = 0.0
        for constraint, counter, weight in zip(items, counts, weights, strict=True):
            value = node.labels.get(constraint.topology_key)
            if value is None:
                if system:
                    continue  # a default key the node lacks does not count
                return -1  # ignored node: scored 0 after normalizing
            # Upstream's scoreForCount: matching pods weighted by the domain count, plus maxSkew - 1.
            total += counter.get(value, 0) * weight + (constraint.max_skew - 1)
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
