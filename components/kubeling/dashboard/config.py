"""What ``kubeling dashboard`` is told by its flags."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DashboardConfig:
    kubeconfig: str = ""  # its own identity (metrics sampling only); default in-cluster
    bind_address: str = "0.0.0.0"
    port: int = 9090  # plain HTTP, as upstream dashboard's insecure port: reached via port-forward or proxy
    metric_resolution: float = 15.0  # how often metrics.k8s.io is sampled
    metric_window: float = 900.0  # how much history the plots show
    session_idle_timeout: float = 8 * 3600.0

    def problems(self) -> list[str]:
        out = []
        if not 0 <= self.port <= 65535:
            out.append(f"--port {self.port} is not a port")
        if self.metric_resolution < 1:
            out.append("--metric-resolution must be at least 1s")
        if self.metric_window < self.metric_resolution:
            out.append("--metric-window must be at least --metric-resolution")
        return out
