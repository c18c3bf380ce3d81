"""A few Prometheus metrics in the text exposition format (version 0.0.4), without a library.

Only what kube-proxy reports is needed: counters, gauges (optionally with
one label) and histograms with fixed buckets.  Everything runs on the event
loop, so no locking.
"""

from __future__ import annotations

import math
from typing import TypeVar


def _format(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, label: str = "") -> None:
        self.name, self.help, self.label = name, help, label
        self.values: dict[str, float] = {}

    def _key(self, label_value: str) -> str:
        return f'{{{self.label}="{label_value}"}}' if self.label else ""

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        out += [f"{self.name}{key} {_format(value)}" for key, value in sorted(self.values.items())]
        return out


class Counter(Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, label_value: str = "") -> None:
        key = self._key(label_value)
        self.values[key] = self.values.get(key, 0.0) + amount


class Gauge(Metric):
    kind = "gauge"

    def set(self, value: float, label_value: str = "") -> None:
        self.values[self._key(label_value)] = value

    def get(self, label_value: str = "") -> float:
        return self.values.get(self._key(label_value), 0.0)


class Histogram(Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: list[float]) -> None:
        super().__init__(name, help)
        self.buckets = sorted(buckets)
        self.counts = [0] * len(self.buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for bound, count in zip(self.buckets, self.counts, strict=True):
            out.append(f'{self.name}_bucket{{le="{_format(bound)}"}} {count}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        out += [f"{self.name}_sum {_format(self.sum)}", f"{self.name}_count {self.count}"]
        return out


def exponential_buckets(start: float, factor: float, count: int) -> list[float]:
    return [start * factor**i for i in range(count)]


M = TypeVar("M", bound=Metric)


class Registry:
    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def text(self) -> str:
        return "\n".join(line for metric in self.metrics for line in metric.lines()) + "\n"


class ProxyMetrics:
    """kube-proxy's sync metrics, under upstream's names."""

    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        buckets = exponential_buckets(0.001, 2, 15)
        prefix = "kubeproxy_sync_proxy_rules"
        self.sync_duration = add(Histogram(f"{prefix}_duration_seconds", "SyncProxyRules latency", buckets))
        self.full_sync_duration = add(
            Histogram(
                "kubeproxy_sync_full_proxy_rules_duration_seconds", "full SyncProxyRules latency", buckets
            )
        )
        self.partial_sync_duration = add(
            Histogram(
                "kubeproxy_sync_partial_proxy_rules_duration_seconds",
                "partial SyncProxyRules latency",
                buckets,
            )
        )
        self.last_sync = add(Gauge(f"{prefix}_last_timestamp_seconds", "the last time rules were synced"))
        self.last_queued = add(
            Gauge(f"{prefix}_last_queued_timestamp_seconds", "the last time a sync was queued")
        )
        self.rules_total = add(
            Gauge(f"{prefix}_iptables_total", "rules kube-proxy holds per table", label="table")
        )
        self.rules_last = add(
            Gauge(f"{prefix}_iptables_last", "rules written by the last sync per table", label="table")
        )
        self.restore_failures = add(
            Counter(f"{prefix}_iptables_restore_failures_total", "failed iptables-restore runs")
        )
        self.partial_restore_failures = add(
            Counter(
                f"{prefix}_iptables_partial_restore_failures_total", "failed partial iptables-restore runs"
            )
        )
        self.no_local_endpoints = add(
            Gauge(
                f"{prefix}_no_local_endpoints_total",
                "services with Local policy and no local endpoints",
                label="traffic_policy",
            )
        )
        self.service_changes = add(Counter(f"{prefix}_service_changes_total", "service changes seen"))
        self.endpoint_changes = add(Counter(f"{prefix}_endpoint_changes_total", "endpoint changes seen"))

    def text(self) -> str:
        return self.registry.text()
