"""The controller's Prometheus metrics, under ingress-nginx's names.

``nginx_ingress_controller_requests{ingress,namespace,service,status,method,host}``,
``nginx_ingress_controller_request_duration_seconds{ingress,namespace,service,method}``
(ingress-nginx's buckets), ``nginx_ingress_controller_config_last_reload_successful``,
``..._config_last_reload_successful_timestamp_seconds`` and
``nginx_ingress_controller_success`` (reloads done).  The counter and histogram
types are the DNS server's (:mod:`kubeling.dns.metrics`).
"""

from __future__ import annotations

import time

from kubeling.dns.metrics import Counter, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngressMetrics:
    def __init__(self) -> None:
        self.requests = Counter("nginx_ingress_controller_requests", "The total number of client requests")
        self.duration = Histogram(
            "nginx_ingress_controller_request_duration_seconds",
            "The request processing time in seconds",
            DURATION_BUCKETS,
        )
        self.reloads = Counter(
            "nginx_ingress_controller_success", "Cumulative number of Ingress controller reload operations"
        )
        self.last_reload = 0.0

    def reloaded(self) -> None:
        self.reloads.inc()
        self.last_reload = time.time()

    def render(self) -> str:
        lines = self.requests.render() + self.duration.render() + self.reloads.render()
        name = "nginx_ingress_controller_config_last_reload_successful"
        lines += [
            f"# HELP {name} Whether the last configuration reload attempt was successful",
            f"# TYPE {name} gauge",
            f"{name} {1 if self.last_reload else 0}",
            f"# HELP {name}_timestamp_seconds Timestamp of the last successful configuration reload.",
            f"# TYPE {name}_timestamp_seconds gauge",
            f"{name}_timestamp_seconds {self.last_reload:.0f}",
        ]
        return "\n".join(lines) + "\n"
