"""The kubelet's ``/metrics/resource`` (Prometheus text format) → a MetricsBatch.

Only the series metrics-server needs are read: ``node_cpu_usage_seconds_total``,
``node_memory_working_set_bytes`` and the ``container_*`` ones keyed by
(namespace, pod, container).  A sample's own millisecond timestamp is used
when it has one, the scrape time otherwise.  A container without a CPU
counter or with a zero working set (the kubelet had no stats for it) is
dropped, as upstream drops incomplete points; its pod then has no metrics.
"""

from __future__ import annotations

import math

from kubeling.metrics.samples import MetricsBatch, PodRef, Point

_NODE_CPU = "node_cpu_usage_seconds_total"
_NODE_MEMORY = "node_memory_working_set_bytes"
_CONTAINER_CPU = "container_cpu_usage_seconds_total"
_CONTAINER_MEMORY = "container_memory_working_set_bytes"
_CONTAINER_START = "container_start_time_seconds"
_WANTED = {_NODE_CPU, _NODE_MEMORY, _CONTAINER_CPU, _CONTAINER_MEMORY, _CONTAINER_START}


class DecodeError(ValueError):
    pass


def parse_line(line: str) -> tuple[str, dict[str, str], float, float | None]:
    """``name{a="b",...} value [timestamp_ms]`` → (name, labels, value, timestamp in seconds or None)."""
    brace = line.find("{")
    space = line.find(" ")
    labels: dict[str, str] = {}
    if brace != -1 and (space == -1 or brace < space):
        name = line[:brace]
        rest = _parse_labels(line, brace + 1, labels)
    else:
        if space == -1:
            raise DecodeError(f"no value in {line!r}")
        name, rest = line[:space], line[space:]
    fields = rest.split()
    if not name or not 1 <= len(fields) <= 2:
        raise DecodeError(f"malformed sample {line!r}")
    try:
        value = float(fields[0])
        timestamp = int(fields[1]) / 1000.0 if len(fields) == 2 else None
    except ValueError:
        raise DecodeError(f"malformed sample {line!r}") from None
    return name, labels, value, timestamp


def _parse_labels(line: str, at: int, labels: dict[str, str]) -> str:
    """Read ``a="b",c="d"}`` from ``at``; returns what follows the closing brace."""
    while True:
        while at < len(line) and line[at] in " ,":
            at += 1
        if at < len(line) and line[at] == "}":
            return line[at + 1 :]
        equals = line.find("=", at)
        if equals == -1 or equals + 1 >= len(line) or line[equals + 1] != '"':
            raise DecodeError(f"malformed labels in {line!r}")
        key, at, value = line[at:equals].strip(), equals + 2, []
        while True:
            if at >= len(line):
                raise DecodeError(f"unterminated label value in {line!r}")
            char = line[at]
            if char == "\\" and at + 1 < len(line):
                value.append({"n": "\n"}.get(line[at + 1], line[at + 1]))
                at += 2
            elif char == '"':
                at += 1
                break
            else:
                value.append(char)
                at += 1
        labels[key] = "".join(value)


class _Container:
    def __init__(self) -> None:
        self.cpu: float | None = None
        self.memory: float | None = None
        self.start = 0.0
        self.timestamp: float | None = None


def decode(text: str, node_name: str, scraped_at: float) -> MetricsBatch:
    """Points of one node and its containers; malformed lines raise DecodeError."""
    node_cpu = node_memory = None
    node_time: float | None = None
    containers: dict[tuple[str, str, str], _Container] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in _WANTED:
            continue
        name, labels, value, timestamp = parse_line(line)
        if not math.isfinite(value):
            continue
        if name == _NODE_CPU:
            node_cpu, node_time = value, timestamp
        elif name == _NODE_MEMORY:
            node_memory = value
        else:
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
            if not all(key):
                continue
            entry = containers.setdefault(key, _Container())
            if name == _CONTAINER_CPU:
                entry.cpu, entry.timestamp = value, timestamp
            elif name == _CONTAINER_MEMORY:
                entry.memory = value
            else:
                entry.start = value
    batch = MetricsBatch()
    if node_cpu is not None and node_memory is not None:
        batch.nodes[node_name] = Point(node_time or scraped_at, round(node_cpu * 1e9), int(node_memory))
    for (namespace, pod, container), entry in containers.items():
        if entry.cpu is None or not entry.memory:
            continue
        point = Point(entry.timestamp or scraped_at, round(entry.cpu * 1e9), int(entry.memory), entry.start)
        batch.pods.setdefault(PodRef(namespace, pod), {})[container] = point
    return batch
