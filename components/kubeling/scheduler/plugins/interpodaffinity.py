"""InterPodAffinity: required pod (anti-)affinity filters, preferred terms score.

PreFilter counts, per topology pair ``(key, value)``, once per cycle:

- pods already placed whose *required anti-affinity* selects the incoming pod
  (they forbid their whole topology domain to it);
- pods matching each of the incoming pod's required affinity terms;
- pods matching any of its required anti-affinity terms.

Filter is then a few dict lookups per node.  A pod whose affinity terms match
no pod anywhere may still go where its own labels satisfy them (the first pod
of a group that wants to be together).  PreFilter skips when the pod has no
required terms and no placed pod has required anti-affinity.

Score adds, per topology pair, the weights of preferred terms (the incoming
pod's, against placed pods; placed pods' preferred terms and required
affinity, against the incoming pod) and maps the sums onto 0..100.
"""

from __future__ import annotations

from collections import Counter

from kubeling.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    AffinityTerm,
    ClusterView,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
)

NAME = "InterPodAffinity"
AFFINITY_REASON = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_REASON = "node(s) didn't satisfy existing pods anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1

Pair = tuple[str, str]


class _FilterState:
    __slots__ = ("affinity_counts", "anti_counts", "existing_anti", "self_match")

    def __init__(self) -> None:
        self.existing_anti: Counter[Pair] = Counter()
        self.affinity_counts: list[Counter[Pair]] = []
        self.anti_counts: Counter[Pair] = Counter()
        self.self_match = False

    def clone(self) -> _FilterState:
        copy = _FilterState()
        copy.existing_anti = Counter(self.existing_anti)
        copy.affinity_counts = [Counter(c) for c in self.affinity_counts]
        copy.anti_counts = Counter(self.anti_counts)
        copy.self_match = self.self_match
        return copy


class InterPodAffinity:
    name = NAME
    weight = 2

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster

    # -- filter ----------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        anywhere = self.cluster.count("anti_affinity_pods")
        if not pod.affinity and not pod.anti_affinity and not anywhere:
            return SKIP
        nodes = list(self.cluster.node_infos())
        with_anti = [n for n in nodes if n.pods_with_required_anti_affinity] if anywhere else []
        labels_of = self.cluster.namespace_labels
        result = _FilterState()
        for node in with_anti:
            for existing in node.pods_with_required_anti_affinity.values():
                for term in existing.anti_affinity:
                    value = node.labels.get(term.topology_key)
                    if value is not None and term.matches(pod, labels_of):
                        result.existing_anti[(term.topology_key, value)] += 1
        if pod.affinity or pod.anti_affinity:
            result.affinity_counts = [Counter() for _ in pod.affinity]
            for node in nodes:
                for existing in node.pods.values():
                    for term, counts in zip(pod.affinity, result.affinity_counts, strict=True):
                        value = node.labels.get(term.topology_key)
                        if value is not None and term.matches(existing, labels_of):
                            counts[(term.topology_key, value)] += 1
                    for term in pod.anti_affinity:
                        value = node.labels.get(term.topology_key)
                        if value is not None and term.matches(existing, labels_of):
                            result.anti_counts[(term.topology_key, value)] += 1
            result.self_match = all(t.matches(pod, labels_of) for t in pod.affinity)
        state[NAME] = result
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # Checked in upstream's order, which decides the reason a node reports.
        data: _FilterState = state[NAME]
        labels = node.labels
        if pod.affinity and not self._affinity_ok(data, pod.affinity, labels):
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, AFFINITY_REASON, plugin=NAME)
        for term in pod.anti_affinity:
            value = labels.get(term.topology_key)
            if value is not None and data.anti_counts.get((term.topology_key, value)):
                return Status(Code.UNSCHEDULABLE, ANTI_AFFINITY_REASON, plugin=NAME)
        if data.existing_anti:
            for key, value in labels.items():
                if data.existing_anti.get((key, value)):
                    return Status(Code.UNSCHEDULABLE, EXISTING_ANTI_AFFINITY_REASON, plugin=NAME)
        return None

    def update_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, sign: int) -> None:
        """Preemption took ``other`` off ``node`` (sign -1) or put it back (+1)."""
        data: _FilterState | None = state.get(NAME)
        if data is None:
            return
        labels_of = self.cluster.namespace_labels
        for term in other.anti_affinity:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(pod, labels_of):
                data.existing_anti[(term.topology_key, value)] += sign
        for term, counts in zip(pod.affinity, data.affinity_counts, strict=True):
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(other, labels_of):
                counts[(term.topology_key, value)] += sign
        for term in pod.anti_affinity:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(other, labels_of):
                data.anti_counts[(term.topology_key, value)] += sign

    @staticmethod
    def _affinity_ok(data: _FilterState, terms: list[AffinityTerm], labels: dict[str, str]) -> bool:
        satisfied = True
        for term, counts in zip(terms, data.affinity_counts, strict=True):
            value = labels.get(term.topology_key)
            if value is None:
                return False
            if not counts.get((term.topology_key, value)):
                satisfied = False
        if satisfied:
            return True
        # No pod anywhere matches the terms: the pod may start the group if it matches them itself.
        return data.self_match and not any(v > 0 for counts in data.affinity_counts for v in counts.values())

    # -- score -----------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        has_preferred = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not has_preferred and not self.cluster.count("affinity_pods"):
            return SKIP
        all_nodes = list(self.cluster.node_infos())
        labels_of = self.cluster.namespace_labels
        scores: Counter[Pair] = Counter()
        for node in all_nodes:
            existing_pods = node.pods if has_preferred else node.pods_with_affinity
            for existing in existing_pods.values():
                for term in pod.preferred_affinity:
                    value = node.labels.get(term.topology_key)
                    if value is not None and term.matches(existing, labels_of):
                        scores[(term.topology_key, value)] += term.weight
                for term in pod.preferred_anti_affinity:
                    value = node.labels.get(term.topology_key)
                    if value is not None and term.matches(existing, labels_of):
                        scores[(term.topology_key, value)] -= term.weight
                for term in existing.affinity:
                    value = node.labels.get(term.topology_key)
                    if value is not None and term.matches(pod, labels_of):
                        scores[(term.topology_key, value)] += HARD_POD_AFFINITY_WEIGHT
                for term in existing.preferred_affinity:
                    value = node.labels.get(term.topology_key)
                    if value is not None and term.matches(pod, labels_of):
                        scores[(term.topology_key, value)] += term.weight
                for term in existing.preferred_anti_affinity:
                    value = node.labels.get(term.topology_key)
                    if value is not None and term.matches(pod, labels_of):
                        scores[(term.topology_key, value)] -= term.weight
        if not scores:
            return SKIP
        state[NAME + "/score"] = scores
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: Counter[Pair] = state[NAME + "/score"]
        return sum(scores.get(pair, 0) for pair in node.labels.items())

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        if not scores:
            return
        low, high = min(scores), max(scores)
        spread = high - low
        for i, value in enumerate(scores):
            scores[i] = MAX_NODE_SCORE * (value - low) // spread if spread > 0 else 0
