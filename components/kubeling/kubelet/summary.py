"""/stats/summary (the kubelet Summary API), /metrics/resource (what metrics-server scrapes) and /metrics.

Container figures come from ``runtime.stats``; a pod's are the sums of its
containers'; the node's are read from /proc (CPU time of all cores,
memory in use = MemTotal - MemAvailable).  ``usageNanoCores`` of the node
is the rate between two successive calls, as cAdvisor reports it.
"""

from __future__ import annotations

import datetime
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from kubeling.kubelet import runtime as rt
from kubeling.kubelet.podsource import PodsSource


class _Sampler(Protocol):
    _cpu_sample: tuple[float, int] | None


def _rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_cpu_seconds_ns() -> int:
    """Busy CPU time of the whole machine in nanoseconds, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:]
    ticks = [int(v) for v in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # minus idle and iowait
    return busy * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            out[key] = int(rest.split()[0]) * 1024
    return out


def _cpu(stats: rt.ContainerStats | None, now: str) -> dict[str, Any]:
    if stats is None:
        return {"time": now, "usageNanoCores": 0, "usageCoreNanoSeconds": 0}
    return {
        "time": now,
        "usageNanoCores": stats.cpu_usage_nanocores,
        "usageCoreNanoSeconds": stats.cpu_usage_core_nanoseconds,
    }


def _memory(stats: rt.ContainerStats | None, now: str) -> dict[str, Any]:
    working_set = stats.memory_working_set_bytes if stats else 0
    usage = stats.memory_usage_bytes if stats else 0
    return {"time": now, "usageBytes": usage, "workingSetBytes": working_set, "rssBytes": working_set}


@dataclass
class _RunningContainer:
    name: str
    id: str
    started: str


def running_containers(pod: dict[str, Any]) -> list[_RunningContainer]:
    """The running containers of a v1 Pod, from its containerStatuses."""
    out = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        running = (status.get("state") or {}).get("running")
        container_id = str(status.get("containerID") or "").partition("://")[2]
        if running is not None and container_id:
            out.append(
                _RunningContainer(status.get("name", ""), container_id, running.get("startedAt") or "")
            )
    return out


async def summary(
    runtime: rt.Runtime, pods: PodsSource, node_name: str, started_at: float, sampler: _Sampler
) -> dict[str, Any]:
    now_epoch = time.time()
    now = _rfc3339(now_epoch)
    listed = [(p, running_containers(p)) for p in await pods.list_pods()]
    ids = [c.id for _, containers in listed for c in containers]
    stats = {s.id: s for s in await runtime.stats(ids)} if ids else {}
    pod_entries = []
    for pod, containers in listed:
        meta = pod.get("metadata") or {}
        entries = []
        total_nano = total_ns = total_ws = total_usage = 0
        for container in containers:
            s = stats.get(container.id)
            entries.append(
                {
                    "name": container.name,
                    "startTime": container.started or now,
                    "cpu": _cpu(s, now),
                    "memory": _memory(s, now),
                }
            )
            if s is not None:
                total_nano += s.cpu_usage_nanocores
                total_ns += s.cpu_usage_core_nanoseconds
                total_ws += s.memory_working_set_bytes
                total_usage += s.memory_usage_bytes
        pod_entries.append(
            {
                "podRef": {
                    "name": meta.get("name", ""),
                    "namespace": meta.get("namespace", ""),
                    "uid": meta.get("uid", ""),
                },
                "startTime": (pod.get("status") or {}).get("startTime") or now,
                "containers": entries,
                "cpu": {"time": now, "usageNanoCores": total_nano, "usageCoreNanoSeconds": total_ns},
                "memory": {
                    "time": now,
                    "usageBytes": total_usage,
                    "workingSetBytes": total_ws,
                    "rssBytes": total_ws,
                },
            }
        )
    cpu_ns = _node_cpu_seconds_ns()
    nano_cores = 0
    previous = sampler._cpu_sample
    if previous is not None and now_epoch > previous[0]:
        nano_cores = int((cpu_ns - previous[1]) / (now_epoch - previous[0]))
    sampler._cpu_sample = (now_epoch, cpu_ns)
    memory = _meminfo()
    used = memory.get("MemTotal", 0) - memory.get("MemAvailable", 0)
    node = {
        "nodeName": node_name,
        "startTime": _rfc3339(started_at),
        "cpu": {"time": now, "usageNanoCores": max(nano_cores, 0), "usageCoreNanoSeconds": cpu_ns},
        "memory": {
            "time": now,
            "availableBytes": memory.get("MemAvailable", 0),
            "usageBytes": used,
            "workingSetBytes": used,
            "rssBytes": used,
        },
    }
    return {"node": node, "pods": pod_entries}


async def metrics_text(pods: PodsSource, requests: Counter[tuple[str, str, int]], started_at: float) -> str:
    listed = [running_containers(p) for p in await pods.list_pods()]
    lines = [
        "# HELP kubelet_running_pods Number of pods that have a running pod sandbox",
        "# TYPE kubelet_running_pods gauge",
        f"kubelet_running_pods {len(listed)}",
        "# HELP kubelet_running_containers Number of containers currently running",
        "# TYPE kubelet_running_containers gauge",
        f'kubelet_running_containers{{container_state="running"}} {sum(len(c) for c in listed)}',
        "# HELP kubelet_http_requests_total Number of the http requests received since the server started",
        "# TYPE kubelet_http_requests_total counter",
    ]
    for (method, path, code), count in sorted(requests.items()):
        lines.append(f'kubelet_http_requests_total{{method="{method}",path="{path}",code="{code}"}} {count}')
    lines += [
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {started_at:.3f}",
    ]
    return "\n".join(lines) + "\n"


def _epoch(rfc3339: str) -> float:
    try:
        return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


_RESOURCE_METRICS = (
    ("node_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the node in core-seconds"),
    ("node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes"),
    (
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed by the container in core-seconds",
    ),
    ("container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes"),
    ("container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds"),
    ("pod_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the pod in core-seconds"),
    ("pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes"),
)


def resource_metrics_text(summary_body: dict[str, Any]) -> str:
    """/metrics/resource: the Prometheus view of the summary that metrics-server scrapes."""
    now_ms = int(time.time() * 1000)
    samples: dict[str, list[str]] = {name: [] for name, _, _ in _RESOURCE_METRICS}

    def add(name: str, labels: str, value: float | int) -> None:
        text = f"{value:.9f}" if isinstance(value, float) else str(value)
        samples[name].append(f"{name}{{{labels}}} {text} {now_ms}" if labels else f"{name} {text} {now_ms}")

    node = summary_body["node"]
    add("node_cpu_usage_seconds_total", "", node["cpu"]["usageCoreNanoSeconds"] / 1e9)
    add("node_memory_working_set_bytes", "", node["memory"]["workingSetBytes"])
    for pod in summary_body["pods"]:
        ref = pod["podRef"]
        pod_labels = f'namespace="{ref["namespace"]}",pod="{ref["name"]}"'
        add("pod_cpu_usage_seconds_total", pod_labels, pod["cpu"]["usageCoreNanoSeconds"] / 1e9)
        add("pod_memory_working_set_bytes", pod_labels, pod["memory"]["workingSetBytes"])
        for c in pod["containers"]:
            labels = f'container="{c["name"]}",{pod_labels}'
            add("container_cpu_usage_seconds_total", labels, c["cpu"]["usageCoreNanoSeconds"] / 1e9)
            add("container_memory_working_set_bytes", labels, c["memory"]["workingSetBytes"])
            add("container_start_time_seconds", labels, _epoch(c["startTime"]))
    lines = []
    for name, kind, text in _RESOURCE_METRICS:
        lines += [f"# HELP {name} [STABLE] {text}", f"# TYPE {name} {kind}", *samples[name]]
    lines += [
        "# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise",
        "# TYPE scrape_error gauge",
        "scrape_error 0",
    ]
    return "\n".join(lines) + "\n"
