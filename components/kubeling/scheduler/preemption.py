"""DefaultPreemption (PostFilter): find where evicting lower-priority pods lets the pod fit.

For a pod that fits nowhere:

1. It must be eligible: not ``preemptionPolicy: Never``, and not already
   waiting for a lower-priority pod to terminate on its nominated node.
2. Only nodes that rejected it as ``Unschedulable`` are candidates
   (``UnschedulableAndUnresolvable`` ones cannot be helped).  Starting at a
   random offset, at most max(10% of nodes, 100) candidates are dry-run: take
   every lower-priority pod off a copy of the node; if the pod still does not
   fit, the node cannot be helped.  Otherwise put pods back, most important
   first (those whose eviction would violate a PodDisruptionBudget before the
   others), keeping each that still leaves room; the rest are the victims.
3. The best candidate has, in order: fewest PDB violations, the lowest
   highest-victim priority, the smallest priority sum, fewest victims, the
   latest start among its most important victims.

The caller deletes the victims and nominates the node for the pod.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeling.api.selectors import LabelSelector
from kubeling.scheduler.algorithm import Algorithm, FitError
from kubeling.scheduler.framework import Code, NodeInfo, PodInfo, Status, selector_of

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to a terminating pod on the nominated node."
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
_PRIORITY_OFFSET = 2**31  # makes every priority positive before summing, as upstream

Obj = dict[str, Any]


@dataclass
class Budget:
    """What preemption needs of a PodDisruptionBudget."""

    namespace: str
    selector: LabelSelector
    disruptions_allowed: int
    disrupted: frozenset[str] = frozenset()

    @classmethod
    def from_object(cls, pdb: Obj) -> Budget:
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        raw = spec.get("selector")
        # A nil or empty selector matches no pod here (upstream's preemption rule).
        empty = not raw or (not raw.get("matchLabels") and not raw.get("matchExpressions"))
        return cls(
            namespace=pdb["metadata"].get("namespace") or "default",
            selector=selector_of(None if empty else raw),
            disruptions_allowed=int(status.get("disruptionsAllowed") or 0),
            disrupted=frozenset((status.get("disruptedPods") or {}).keys()),
        )


@dataclass
class Candidate:
    node: str
    victims: list[PodInfo] = field(default_factory=list)
    pdb_violations: int = 0


def more_important(a: PodInfo, b: PodInfo) -> bool:
    if a.priority != b.priority:
        return a.priority > b.priority
    return (a.start_time or "") < (b.start_time or "")


def _importance_key(pod: PodInfo) -> tuple[int, str]:
    return (-pod.priority, pod.start_time or "")


def split_by_pdb(pods: list[PodInfo], budgets: Sequence[Budget]) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), each in the given order."""
    allowed = [b.disruptions_allowed for b in budgets]
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for pod in pods:
        breaks = False
        for i, budget in enumerate(budgets):
            if budget.namespace != pod.namespace or not budget.selector.matches(pod.labels):
                continue
            if pod.name in budget.disrupted:
                continue  # already counted as disrupted by the budget
            allowed[i] -= 1
            if allowed[i] < 0:
                breaks = True
        (violating if breaks else fine).append(pod)
    return violating, fine


def eligible(pod: PodInfo, cluster_get: Any, statuses: dict[str, Status]) -> str:
    """ "" when the pod may preempt, else the reason it may not."""
    if pod.preemption_policy == "Never":
        return NEVER
    nominated = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
    if nominated:
        status = statuses.get(nominated)
        if status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            return ""
        node: NodeInfo | None = cluster_get(nominated)
        if node is not None:
            for other in node.pods.values():
                terminating = (other.pod.get("metadata") or {}).get("deletionTimestamp")
                if terminating and other.priority < pod.priority:
                    return TERMINATING
    return ""


def select_victims(
    algorithm: Algorithm, error: FitError, node: NodeInfo, budgets: Sequence[Budget]
) -> Candidate | None:
    pod = error.pod
    trial = node.clone()
    state = error.state.clone()
    active = error.active_filters
    lower = [p for p in trial.pods.values() if p.priority < pod.priority]
    if not lower:
        return None
    for victim in lower:
        trial.remove_pod(victim.key)
        algorithm.update_pod(active, state, pod, victim, trial, -1)
    if algorithm.run_filters(active, state, pod, trial) is not None:
        return None
    lower.sort(key=_importance_key)
    violating, fine = split_by_pdb(lower, budgets)
    candidate = Candidate(node.name)

    def reprieve(victim: PodInfo) -> bool:
        trial.add_pod(victim)
        algorithm.update_pod(active, state, pod, victim, trial, 1)
        if algorithm.run_filters(active, state, pod, trial) is None:
            return True
        trial.remove_pod(victim.key)
        algorithm.update_pod(active, state, pod, victim, trial, -1)
        candidate.victims.append(victim)
        return False

    for victim in violating:
        if not reprieve(victim):
            candidate.pdb_violations += 1
    for victim in fine:
        reprieve(victim)
    candidate.victims.sort(key=_importance_key)
    return candidate


def pick_one(candidates: list[Candidate]) -> Candidate:
    for candidate in candidates:
        if not candidate.victims:
            return candidate

    def rank(c: Candidate) -> tuple[int, int, int, int, str]:
        top = c.victims[0].priority
        total = sum(v.priority + _PRIORITY_OFFSET for v in c.victims)
        earliest_top = min(v.start_time or "" for v in c.victims if v.priority == top)
        # Later start of the most important victims is better: invert the string order.
        inverted = "".join(chr(0x10FFFF - ord(ch)) for ch in earliest_top)
        return (c.pdb_violations, top, total, len(c.victims), inverted)

    return min(candidates, key=rank)


def find_candidate(
    algorithm: Algorithm,
    error: FitError,
    nodes: Sequence[NodeInfo],
    budgets: Sequence[Budget],
    *,
    rng: random.Random | None = None,
) -> tuple[Candidate | None, str]:
    """The chosen candidate, or None and the PostFilter message (without the "preemption: " prefix)."""
    pod = error.pod
    reason = eligible(pod, lambda name: next((n for n in nodes if n.name == name), None), error.node_statuses)
    if reason:
        return None, reason
    potential = [
        n for n in nodes if (s := error.node_statuses.get(n.name)) is None or s.code == Code.UNSCHEDULABLE
    ]
    statuses: dict[str, Status] = {}
    for node in nodes:
        status = error.node_statuses.get(node.name)
        if status is not None and status.code != Code.UNSCHEDULABLE:
            statuses[node.name] = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NOT_HELPFUL)
    wanted = max(len(potential) * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE)
    candidates: list[Candidate] = []
    offset = (rng or random).randrange(len(potential)) if potential else 0
    for i in range(len(potential)):
        node = potential[(offset + i) % len(potential)]
        candidate = select_victims(algorithm, error, node, budgets)
        if candidate is None:
            statuses[node.name] = Status(Code.UNSCHEDULABLE, NO_VICTIMS)
            continue
        candidates.append(candidate)
        if len(candidates) >= wanted:
            break
    if not candidates:
        return None, FitError(pod, len(statuses), statuses).message()
    return pick_one(candidates), ""
