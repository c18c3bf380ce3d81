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

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # Inline fast path for the common case; insufficient() builds the reasons.
        allocatable, requested, want = node.allocatable, node.requested, pod.requests
        if (
            len(node.pods) < allocatable.pods
            and allocatable.milli_cpu >= want.milli_cpu + requested.milli_cpu
            and allocatable.memory >= want.memory + requested.memory
            and (not want.ephemeral or allocatable.ephemeral >= want.ephemeral + requested.ephemeral)
            and not want.scalars
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

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None


class BalancedAllocation:
    name = BALANCED
    weight = 1

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

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None
