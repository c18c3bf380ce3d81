"""CPU and memory samples of nodes and pods over the last minutes, kept in memory.

The sampler reads ``metrics.k8s.io`` every ``interval`` seconds with the
dashboard's own ServiceAccount (which may read metrics and nothing else) and
appends one point per node and per pod; points older than ``window`` are
dropped, and so are series that got none for a whole window (deleted pods).
Who may *see* the samples is decided per request, as the user (see pages).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.validation.common import parse_quantity

log = logging.getLogger(__name__)

NODE_METRICS = "/apis/metrics.k8s.io/v1beta1/nodes"
POD_METRICS = "/apis/metrics.k8s.io/v1beta1/pods"

SeriesKey = tuple[str, str, str]  # ("nodes" | "pods", namespace, name)


@dataclass
class Sample:
    at: float
    cpu: float  # cores
    memory: float  # bytes


@dataclass
class History:
    window: float = 900.0
    series: dict[SeriesKey, deque[Sample]] = field(default_factory=dict)

    def add(self, key: SeriesKey, sample: Sample) -> None:
        self.series.setdefault(key, deque()).append(sample)

    def prune(self, now: float) -> None:
        for key in list(self.series):
            points = self.series[key]
            while points and points[0].at < now - self.window:
                points.popleft()
            if not points:
                del self.series[key]

    def points(self, key: SeriesKey) -> list[Sample]:
        return list(self.series.get(key, ()))

    def record(self, kind: str, items: list[dict[str, Any]], now: float) -> None:
        """One metrics.k8s.io list (NodeMetrics or PodMetrics items) as one point per object."""
        for item in items:
            meta = item.get("metadata") or {}
            if kind == "nodes":
                usages = [item.get("usage") or {}]
            else:
                usages = [c.get("usage") or {} for c in item.get("containers") or []]
            cpu = sum((_quantity(u.get("cpu")) for u in usages), Decimal(0))
            memory = sum((_quantity(u.get("memory")) for u in usages), Decimal(0))
            key = (kind, meta.get("namespace", "") if kind == "pods" else "", meta.get("name", ""))
            self.add(key, Sample(now, float(cpu), float(memory)))
        self.prune(now)


def _quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(value) if value is not None else Decimal(0)
    except (StatusError, ValueError, ArithmeticError):
        return Decimal(0)


Fetch = Callable[[str], Any]  # an awaitable GET of a path returning the decoded list


class Sampler:
    """Feeds a History from metrics.k8s.io until cancelled; a failed read is logged and retried next round."""

    def __init__(self, fetch: Fetch, history: History, *, interval: float = 15.0) -> None:
        self.fetch = fetch
        self.history = history
        self.interval = interval
        self.last_error = ""

    async def sample_once(self) -> None:
        now = time.time()
        for kind, path in (("nodes", NODE_METRICS), ("pods", POD_METRICS)):
            try:
                answer = await self.fetch(path)
            except Exception as exc:  # any failure: log it and sample again next round
                self.last_error = f"{path}: {exc}"
                log.info("metrics sample failed: %s", self.last_error)
                continue
            self.history.record(kind, answer.get("items") or [], now)

    async def run(self) -> None:
        while True:
            await self.sample_once()
            await asyncio.sleep(self.interval)
