"""What one scrape yields: a point per node and per container, as upstream's MetricsBatch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class PodRef(NamedTuple):
    namespace: str
    name: str


@dataclass(frozen=True)
class Point:
    """One reading: when, cumulative CPU time (core-nanoseconds), working set bytes, start time."""

    timestamp: float
    cpu_ns: int
    memory: int
    start_time: float = 0.0


@dataclass
class MetricsBatch:
    nodes: dict[str, Point] = field(default_factory=dict)
    pods: dict[PodRef, dict[str, Point]] = field(default_factory=dict)

    def merge(self, other: MetricsBatch) -> None:
        self.nodes.update(other.nodes)
        self.pods.update(other.pods)
