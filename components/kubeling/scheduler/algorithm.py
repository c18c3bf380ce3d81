"""One scheduling decision, without I/O: filter nodes, score the feasible ones, pick a host.

- PreFilter runs every filter plugin's ``pre_filter``; a Skip drops the
  plugin's ``filter`` from this cycle, a rejection fails the pod at once.
- Filter walks the nodes round-robin from where the previous cycle stopped
  and stops once it has found ``num_feasible_nodes_to_find`` feasible nodes
  (upstream's adaptive percentageOfNodesToScore: 50% minus 1% per 125 nodes,
  at least 5%, at least 100 nodes).  A pod with a nominated node tries that
  node first.  Nodes holding nominated pods of equal or higher priority are
  checked as if those pods were already there.
- Score runs the plugins whose ``pre_score`` did not skip, normalizes and
  weighs their scores; the highest total wins, ties broken at random
  (reservoir sampling, as upstream's selectHost).

Failure yields a :class:`FitError` whose ``message()`` is upstream's
``0/N nodes are available: <count> <reason>, ....``.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence

from kubeling.scheduler.framework import (
    Code,
    CycleState,
    FilterPlugin,
    NodeInfo,
    PodInfo,
    ScorePlugin,
    Status,
)

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
DEFAULT_PERCENTAGE_BASE = 50
NO_NODE_AVAILABLE = "0/{} nodes are available"
NO_NODES = "no nodes available to schedule pods"


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        adaptive = DEFAULT_PERCENTAGE_BASE - num_all_nodes // 125
        percentage = max(adaptive, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    count = num_all_nodes * percentage // 100
    return max(count, MIN_FEASIBLE_NODES_TO_FIND)


class FitError(Exception):
    """No node fits: the statuses of the rejecting nodes, for the message and for preemption."""

    def __init__(
        self,
        pod: PodInfo,
        num_all_nodes: int,
        node_statuses: dict[str, Status],
        *,
        pre_filter_message: str = "",
    ) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.node_statuses = node_statuses
        self.pre_filter_message = pre_filter_message
        self.post_filter_message = ""
        # The cycle's plugin state and active filters, which preemption re-runs on trimmed nodes.
        self.state = CycleState()
        self.active_filters: list[FilterPlugin] = []

    def unschedulable_plugins(self) -> set[str]:
        return {s.plugin for s in self.node_statuses.values() if s.plugin}

    def message(self) -> str:
        if self.num_all_nodes == 0:
            return NO_NODES  # upstream's ErrNoNodesAvailable
        text = NO_NODE_AVAILABLE.format(self.num_all_nodes) + ":"
        if self.pre_filter_message:
            text += f" {self.pre_filter_message}."
        else:
            histogram: Counter[str] = Counter()
            for status in self.node_statuses.values():
                histogram.update(status.reasons)
            parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
            if parts:
                text += " " + ", ".join(parts) + "."
        if self.post_filter_message:
            text += " " + self.post_filter_message
        return text

    __str__ = message


class ScheduleResult:
    __slots__ = ("evaluated", "feasible", "node")

    def __init__(self, node: str, evaluated: int, feasible: int) -> None:
        self.node = node
        self.evaluated = evaluated
        self.feasible = feasible


class Algorithm:
    def __init__(
        self,
        filters: Sequence[FilterPlugin],
        scores: Sequence[ScorePlugin],
        *,
        percentage_of_nodes_to_score: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.filters = list(filters)
        self.scores = list(scores)
        self.percentage = percentage_of_nodes_to_score
        self.next_start_index = 0
        self.rng = rng or random.Random()
        # node name -> pods nominated to run there (set by preemption), for filtering.
        self.nominated: dict[str, dict[str, PodInfo]] = {}

    # -- pre-filter --------------------------------------------------------------

    def run_pre_filters(self, state: CycleState, pod: PodInfo) -> tuple[list[FilterPlugin], Status | None]:
        active: list[FilterPlugin] = []
        for plugin in self.filters:
            status = plugin.pre_filter(state, pod)
            if status is None:
                active.append(plugin)
            elif status.code == Code.SKIP:
                continue
            else:
                status.plugin = status.plugin or plugin.name
                return active, status
        return active, None

    @staticmethod
    def run_filters(
        active: Sequence[FilterPlugin], state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status | None:
        for plugin in active:
            status = plugin.filter(state, pod, node)
            if status is not None:
                return status
        return None

    @staticmethod
    def update_pod(
        active: Sequence[FilterPlugin],
        state: CycleState,
        pod: PodInfo,
        other: PodInfo,
        node: NodeInfo,
        sign: int,
    ) -> None:
        """Run the PreFilter extensions: ``other`` was added to (+1) or removed from (-1) ``node``."""
        for plugin in active:
            update = getattr(plugin, "update_pod", None)
            if update is not None:
                update(state, pod, other, node, sign)

    def _with_nominated(self, pod: PodInfo, node: NodeInfo) -> NodeInfo:
        nominated = self.nominated.get(node.name)
        if not nominated:
            return node
        others = [p for p in nominated.values() if p.key != pod.key and p.priority >= pod.priority]
        if not others:
            return node
        copy = node.clone()
        for other in others:
            if other.key not in copy.pods:
                copy.add_pod(other)
        return copy

    # -- one decision ------------------------------------------------------------

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo], nominated_node: str = "") -> ScheduleResult:
        """Pick a node for ``pod`` or raise :class:`FitError`."""
        total = len(nodes)
        if total == 0:
            raise FitError(pod, 0, {})
        state = CycleState()
        active, rejected = self.run_pre_filters(state, pod)
        if rejected is not None:
            statuses = {n.name: rejected for n in nodes}
            raise FitError(pod, total, statuses, pre_filter_message=rejected.message)

        if nominated_node:
            for node in nodes:
                if node.name == nominated_node:
                    if self.run_filters(active, state, pod, self._with_nominated(pod, node)) is None:
                        return ScheduleResult(node.name, 1, 1)
                    break

        feasible, statuses, evaluated = self._find_feasible(active, state, pod, nodes)
        if not feasible:
            error = FitError(pod, total, statuses)
            error.state, error.active_filters = state, active
            raise error
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        totals = self._score(state, pod, feasible)
        return ScheduleResult(self._select(feasible, totals), evaluated, len(feasible))

    def _find_feasible(
        self, active: list[FilterPlugin], state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[list[NodeInfo], dict[str, Status], int]:
        total = len(nodes)
        wanted = num_feasible_nodes_to_find(total, self.percentage)
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        start = self.next_start_index % total
        nominated = self.nominated
        checks = [plugin.filter for plugin in active]
        single = checks[0] if len(checks) == 1 and not nominated else None
        evaluated = 0
        # Walk nodes[start:] then nodes[:start] without modular arithmetic per node.
        for node in itertools.chain(itertools.islice(nodes, start, None), itertools.islice(nodes, start)):
            evaluated += 1
            if single is not None:
                status = single(state, pod, node)  # the common case: one filter left after PreFilter
            else:
                target = self._with_nominated(pod, node) if nominated and node.name in nominated else node
                status = None
                for check in checks:
                    status = check(state, pod, target)
                    if status is not None:
                        break
            if status is None:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                statuses[node.name] = status
        self.next_start_index = (start + evaluated) % total
        return feasible, statuses, evaluated

    def _score(self, state: CycleState, pod: PodInfo, feasible: list[NodeInfo]) -> list[int]:
        totals = [0] * len(feasible)
        for plugin in self.scores:
            if plugin.pre_score(state, pod, feasible) is not None:
                continue  # Skip: the plugin has nothing to say about this pod
            batch = getattr(plugin, "score_nodes", None)
            if batch is not None:
                scores = batch(state, pod, feasible)
            else:
                score = plugin.score
                scores = [score(state, pod, node) for node in feasible]
            plugin.normalize(state, pod, scores)
            weight = plugin.weight
            totals = [t + v * weight for t, v in zip(totals, scores, strict=True)]
        return totals

    def _select(self, feasible: list[NodeInfo], totals: list[int]) -> str:
        best = max(totals)
        winners = [i for i, value in enumerate(totals) if value == best]
        return feasible[winners[0] if len(winners) == 1 else self.rng.choice(winners)].name
