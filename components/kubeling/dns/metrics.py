"""Prometheus metrics of the DNS server, named as CoreDNS names them.

``coredns_dns_requests_total{server,zone,proto,family,type}``,
``coredns_dns_responses_total{server,zone,rcode,plugin}``,
``coredns_dns_request_duration_seconds{server,zone,type}`` (CoreDNS's
buckets: 0.25 ms doubling 16 times), ``coredns_cache_hits_total{server,type}``
(type success or denial), ``coredns_cache_misses_total{server}``,
``coredns_cache_entries{server,type}``, ``coredns_forward_requests_total{to}``
and ``coredns_forward_responses_total{to,rcode}``.  Served as the Prometheus
text format (version 0.0.4).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

Labels = tuple[tuple[str, str], ...]

DURATION_BUCKETS = tuple(0.00025 * 2**i for i in range(16))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{v}"'.replace("\\", "\\\\").replace("\n", "\\n") for k, v in labels)
    return "{" + ",".join(escaped) + "}"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[Labels, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(labels.items())] += amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(labels.items()), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(k)} {v:g}" for k, v in sorted(self.values.items())]
        return lines


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = defaultdict(float)

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(labels.items())
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [0] * (len(self.buckets) + 1)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self._sums[key] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self._counts.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f"{self.name}_bucket{_labels((*key, ('le', le)))} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(key)} {self._sums[key]:g}")
            lines.append(f"{self.name}_count{_labels(key)} {cumulative}")
        return lines


class DNSMetrics:
    def __init__(self, server: str = "dns://:53", zone: str = "cluster.local.") -> None:
        self.server = server
        self.zone = zone
        self.requests = Counter(
            "coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol and family."
        )
        self.responses = Counter("coredns_dns_responses_total", "Counter of response status codes.")
        self.duration = Histogram(
            "coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) each request took."
        )
        self.cache_hits = Counter("coredns_cache_hits_total", "The count of cache hits.")
        self.cache_misses = Counter("coredns_cache_misses_total", "The count of cache misses.")
        self.forward_requests = Counter(
            "coredns_forward_requests_total", "Counter of requests made per upstream."
        )
        self.forward_responses = Counter(
            "coredns_forward_responses_total", "Counter of responses received per upstream."
        )
        self.cache_entries: Callable[[], dict[str, int]] = dict

    def render(self) -> str:
        lines: list[str] = []
        for metric in (self.requests, self.responses, self.duration, self.cache_hits, self.cache_misses):
            lines += metric.render()
        lines += [
            "# HELP coredns_cache_entries The number of elements in the cache.",
            "# TYPE coredns_cache_entries gauge",
        ]
        for kind, count in sorted(self.cache_entries().items()):
            lines.append(f"coredns_cache_entries{_labels((('server', self.server), ('type', kind)))} {count}")
        lines += self.forward_requests.render() + self.forward_responses.render()
        return "\n".join(lines) + "\n"
