"""The last two points per node and per container, and the usage computed from them.

As upstream's metrics-server storage:

- each scrape's batch replaces the whole state (a node or pod missing from it
  is gone); the previous point is kept only when the new one is newer,
  otherwise the older previous point stays;
- CPU usage is the rate of the cumulative counter between the two points
  (nanocores), memory the last working set; ``timestamp`` is the last
  point's time and ``window`` the time between the points;
- a container that started within one resolution but at least 10 s before
  its first point counts from its start time at zero CPU, so new pods get
  metrics after one scrape instead of two;
- a pod is reported only when every container it has points for has two
  usable points; a counter that went backwards (a restart) is no usage.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeling.metrics.samples import MetricsBatch, PodRef, Point

FRESH_CONTAINER_MIN_RESOLUTION = 10.0


@dataclass(frozen=True)
class Usage:
    nanocores: int
    memory: int
    timestamp: float
    window: float


def usage_between(last: Point, prev: Point) -> Usage | None:
    """The usage from two points of one counter; None when it cannot be computed."""
    # Rounded to the microsecond: epoch floats would print windows like 9.975999832s.
    window = round(last.timestamp - prev.timestamp, 6)
    if window <= 0 or last.cpu_ns < prev.cpu_ns:
        return None
    return Usage(int((last.cpu_ns - prev.cpu_ns) / window), last.memory, last.timestamp, window)


def _keep_previous(new: Point, last: Point | None, prev: Point | None) -> Point | None:
    if last is None:
        return None
    if new.timestamp > last.timestamp:
        return last
    if prev is not None and prev.timestamp < new.timestamp:
        return prev
    return None


class MetricsStorage:
    def __init__(self, resolution: float) -> None:
        self.resolution = resolution
        self._nodes_last: dict[str, Point] = {}
        self._nodes_prev: dict[str, Point] = {}
        self._pods_last: dict[PodRef, dict[str, Point]] = {}
        self._pods_prev: dict[PodRef, dict[str, Point]] = {}
        self.stored_batches = 0

    def store(self, batch: MetricsBatch) -> None:
        nodes_prev: dict[str, Point] = {}
        for name, point in batch.nodes.items():
            kept = _keep_previous(point, self._nodes_last.get(name), self._nodes_prev.get(name))
            if kept is not None:
                nodes_prev[name] = kept
        pods_prev: dict[PodRef, dict[str, Point]] = {}
        for ref, containers in batch.pods.items():
            last, prev = self._pods_last.get(ref, {}), self._pods_prev.get(ref, {})
            kept_containers = {}
            for container, point in containers.items():
                kept = self._container_previous(point, last.get(container), prev.get(container))
                if kept is not None:
                    kept_containers[container] = kept
            pods_prev[ref] = kept_containers
        self._nodes_last, self._nodes_prev = dict(batch.nodes), nodes_prev
        self._pods_last = {ref: dict(containers) for ref, containers in batch.pods.items()}
        self._pods_prev = pods_prev
        self.stored_batches += 1

    def _container_previous(self, new: Point, last: Point | None, prev: Point | None) -> Point | None:
        age = new.timestamp - new.start_time
        if new.start_time and FRESH_CONTAINER_MIN_RESOLUTION <= age < self.resolution:
            return Point(new.start_time, 0, 0, new.start_time)
        if last is not None and new.start_time > last.timestamp:
            return None  # restarted since the stored point: its counter began again
        return _keep_previous(new, last, prev)

    def point_counts(self) -> tuple[int, int]:
        """(node points, container points) held, both samples counted."""
        nodes = len(self._nodes_last) + len(self._nodes_prev)
        containers = sum(len(c) for c in self._pods_last.values()) + sum(
            len(c) for c in self._pods_prev.values()
        )
        return nodes, containers

    def node_usage(self, name: str) -> Usage | None:
        last, prev = self._nodes_last.get(name), self._nodes_prev.get(name)
        if last is None or prev is None:
            return None
        return usage_between(last, prev)

    def pod_usage(self, ref: PodRef) -> dict[str, Usage] | None:
        """Usage per container, or None unless every container of the pod has some."""
        last, prev = self._pods_last.get(ref), self._pods_prev.get(ref, {})
        if not last:
            return None
        out = {}
        for container, point in last.items():
            before = prev.get(container)
            usage = usage_between(point, before) if before is not None else None
            if usage is None:
                return None
            out[container] = usage
        return out
