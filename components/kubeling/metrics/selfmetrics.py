"""``/metrics`` of metrics-server itself (Prometheus text), with upstream's metric names.

``metrics_server_manager_tick_duration_seconds`` (how long each whole scrape
took), ``metrics_server_kubelet_request_total`` by outcome, and
``metrics_server_storage_points`` (node and container points held).  Kept as
plain numbers: a sum and count stand in for upstream's histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeling.metrics.storage import MetricsStorage


@dataclass
class ScrapeStats:
    ticks: int = 0
    tick_seconds_total: float = 0.0
    kubelet_success: int = 0
    kubelet_failure: int = 0

    def record(self, seconds: float, nodes: int, failures: int) -> None:
        self.ticks += 1
        self.tick_seconds_total += seconds
        self.kubelet_success += nodes - failures
        self.kubelet_failure += failures


def exposition(stats: ScrapeStats, storage: MetricsStorage) -> str:
    nodes, containers = storage.point_counts()
    lines = [
        "# HELP metrics_server_manager_tick_duration_seconds Time spent collecting and storing metrics",
        "# TYPE metrics_server_manager_tick_duration_seconds summary",
        f"metrics_server_manager_tick_duration_seconds_sum {stats.tick_seconds_total:.6f}",
        f"metrics_server_manager_tick_duration_seconds_count {stats.ticks}",
        "# HELP metrics_server_kubelet_request_total Number of scrapes of kubelets by outcome",
        "# TYPE metrics_server_kubelet_request_total counter",
        f'metrics_server_kubelet_request_total{{success="true"}} {stats.kubelet_success}',
        f'metrics_server_kubelet_request_total{{success="false"}} {stats.kubelet_failure}',
        "# HELP metrics_server_storage_points Number of metrics points stored",
        "# TYPE metrics_server_storage_points gauge",
        f'metrics_server_storage_points{{type="node"}} {nodes}',
        f'metrics_server_storage_points{{type="container"}} {containers}',
    ]
    return "\n".join(lines) + "\n"
