"""NodeResourcesFit (filter + LeastAllocated score) and NodeResourcesBalancedAllocation.

Fit: the pod fits when one more pod is allowed and, for every resource it
requests, ``allocatable >= requested on the node + pod request``; every
shortfall is a reason ("Insufficient cpu", "Too many pods", ...).

LeastAllocated (cpu and memory, weight 1 each) scores the free fraction left
after placing the pod, from non-zero requests.  BalancedAllocation scores how
even the cpu and memory fractions would be: ``(1 - std) * 100``; it skips
pods that request neither.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.scheduler.framework import MAX_NODE_SCORE, SKIP, Code, CycleState, NodeInfo, PodInfo, Status

FIT = "NodeResourcesFit"
BALANCED = "NodeResourcesBalancedAllocation"


def insufficient(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Every reason the pod does not fit on the node (empty: it fits)."""
    reasons: list[str] = []
    allocatable, requested, want = node.allocatable, node.requested, pod.requests
    if len(node.pods) + 1 > allocatable.pods:
        reasons.append("Too many pods")
    if want.milli_cpu and allocatable.milli_cpu < want.milli_cpu + requested.milli_cpu:
        reasons.append("Insufficient cpu")
    if want.memory and allocatable.memory < want.memory + requested.memory:
        reasons.append("Insufficient memory")
    if want.ephemeral and allocatable.ephemeral < want.ephemeral + requested.ephemeral:
        reasons.append("Insufficient ephemeral-storage")
    for name, value in want.scalars.items():
        if value and allocatable.scalars.get(name, 0) < value + requested.scalars.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


class NodeResourcesFit:
    name = FIT
    weight = 1

    def __init__(self) -> None:
        self._memo = ScoreMemo()

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # Fast path for cpu/memory-only pods on flat fields; insufficient() builds the reasons.
        if (
            pod.simple_requests
            and node.free_pods > 0
            and node.free_cpu >= pod.req_cpu
            and node.free_mem >= pod.req_mem
        ):
            return None
        reasons = insufficient(pod, node)
        return Status(Code.UNSCHEDULABLE, *reasons, plugin=FIT) if reasons else None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        allocatable = node.allocatable
        cpu_cap, mem_cap = allocatable.milli_cpu, allocatable.memory
        cpu_req = node.non0_cpu + pod.non0_cpu
        mem_req = node.non0_mem + pod.non0_mem
        cpu = (cpu_cap - cpu_req) * MAX_NODE_SCORE // cpu_cap if cpu_cap and cpu_req <= cpu_cap else 0
        mem = (mem_cap - mem_req) * MAX_NODE_SCORE // mem_cap if mem_cap and mem_req <= mem_cap else 0
        return (cpu + mem) // 2

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """``score`` for many nodes, memoized per node generation (see :class:`ScoreMemo`)."""
        return self._memo.scores(pod.non0_cpu, pod.non0_mem, nodes, self._least_allocated)

    @staticmethod
    def _least_allocated(n: NodeInfo, pod_cpu: int, pod_mem: int) -> int:
        cpu_req, mem_req = n.non0_cpu + pod_cpu, n.non0_mem + pod_mem
        cpu = (
            (n.alloc_cpu - cpu_req) * MAX_NODE_SCORE // n.alloc_cpu
            if n.alloc_cpu and cpu_req <= n.alloc_cpu
            else 0
        )
        mem = (
            (n.alloc_mem - mem_req) * MAX_NODE_SCORE // n.alloc_mem
            if n.alloc_mem and mem_req <= n.alloc_mem
            else 0
        )
        return (cpu + mem) >> 1

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None


class BalancedAllocation:
    name = BALANCED
    weight = 1

    def __init__(self) -> None:
        self._memo = ScoreMemo()

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not pod.requests.milli_cpu and not pod.requests.memory:
            return SKIP
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        allocatable = node.allocatable
        if not allocatable.milli_cpu or not allocatable.memory:
            return 0
        cpu = min((node.requested.milli_cpu + pod.requests.milli_cpu) / allocatable.milli_cpu, 1.0)
        mem = min((node.requested.memory + pod.requests.memory) / allocatable.memory, 1.0)
        std = abs(cpu - mem) / 2
        return int((1 - std) * MAX_NODE_SCORE)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        return self._memo.scores(pod.req_cpu, pod.req_mem, nodes, self._balanced)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None

    @staticmethod
    def _balanced(n: NodeInfo, pod_cpu: int, pod_mem: int) -> int:
        if not n.alloc_cpu or not n.alloc_mem:
            return 0
        cpu = (n.alloc_cpu - n.free_cpu + pod_cpu) / n.alloc_cpu
        mem = (n.alloc_mem - n.free_mem + pod_mem) / n.alloc_mem
        cpu = cpu if cpu < 1.0 else 1.0
        mem = mem if mem < 1.0 else 1.0
        return int((1 - abs(cpu - mem) / 2) * MAX_NODE_SCORE)


class ScoreMemo:
    """Scores that depend only on (node state, pod requests), remembered per node generation.

    Between two cycles only the node that took the last pod changes, so for
    pods of one shape nearly every score is a dict hit.  A different shape
    starts a fresh table (a few shapes are kept).
    """

    MAX_SHAPES = 8

    def __init__(self) -> None:
        self._tables: dict[tuple[int, int], dict[str, tuple[int, int]]] = {}

    def scores(
        self, pod_cpu: int, pod_mem: int, nodes: list[NodeInfo], compute: Callable[[NodeInfo, int, int], int]
    ) -> list[int]:
        table = self._tables.get((pod_cpu, pod_mem))
        if table is None:
            if len(self._tables) >= self.MAX_SHAPES:
                self._tables.clear()
            table = self._tables[(pod_cpu, pod_mem)] = {}
        result = []
        append = result.append
        get = table.get
        for n in nodes:
            hit = get(n.name)
            if hit is not None and hit[0] == n.generation:
                append(hit[1])
            else:
                value = compute(n, pod_cpu, pod_mem)
                table[n.name] = (n.generation, value)
                append(value)
        return result
