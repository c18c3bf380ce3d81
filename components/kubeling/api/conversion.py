"""Conversion between API versions that share one storage location.

Objects are stored in their resource's storage version; a request in another
version sees them converted on the way out and is converted back on the way
in.  Two resources need it, as upstream:

- HorizontalPodAutoscaler, stored as autoscaling/v2 and also served as
  autoscaling/v1; what v1 cannot express (other metrics, behavior,
  conditions) rides in ``autoscaling.alpha.kubernetes.io/*`` annotations so a
  round trip through v1 loses nothing.
- Event, stored as core/v1 and also served as events.k8s.io/v1, whose fields
  carry new names (regarding, note, deprecatedCount, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson

from kubeling.api.resources import Resource

Obj = dict[str, Any]
Converter = Callable[[Obj], Obj]

_METRICS = "autoscaling.alpha.kubernetes.io/metrics"
_CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
_BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"


def _is_cpu(metric: Obj) -> bool:
    return metric.get("type") == "Resource" and (metric.get("resource") or {}).get("name") == "cpu"


def _target_type(metric: Obj) -> str | None:
    return ((metric.get("resource") or {}).get("target") or {}).get("type")


def hpa_v2_to_v1(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    spec = out.get("spec") or {}
    status = out.get("status") or {}
    annotations = dict((out.get("metadata") or {}).get("annotations") or {})
    metrics = spec.pop("metrics", None) or []
    cpu = next(
        (
            m
            for m in metrics
            if _is_cpu(m) and (m["resource"].get("target") or {}).get("type") == "Utilization"
        ),
        None,
    )
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get("averageUtilization")
    others = [m for m in metrics if m is not cpu]
    if others:
        annotations[_METRICS] = orjson.dumps(others).decode()
    behavior = spec.pop("behavior", None)
    if behavior:
        annotations[_BEHAVIOR] = orjson.dumps(behavior).decode()
    current = status.pop("currentMetrics", None) or []
    cpu_now = next((m for m in current if _is_cpu(m)), None)
    if (
        cpu_now is not None
        and (cpu_now["resource"].get("current") or {}).get("averageUtilization") is not None
    ):
        status["currentCPUUtilizationPercentage"] = cpu_now["resource"]["current"]["averageUtilization"]
    other_now = [m for m in current if m is not cpu_now]
    if other_now:
        annotations[_CURRENT_METRICS] = orjson.dumps(other_now).decode()
    conditions = status.pop("conditions", None)
    if conditions:
        annotations[_CONDITIONS] = orjson.dumps(conditions).decode()
    if annotations:
        out.setdefault("metadata", {})["annotations"] = annotations
    return out


def hpa_v1_to_v2(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    spec = out.setdefault("spec", {})
    status = out.get("status")
    metadata = out.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})

    def take(key: str) -> Any:
        raw = annotations.pop(key, None)
        if raw is None:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None

    metrics: list[Obj] = []
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
            }
        )
    metrics += take(_METRICS) or []
    if metrics:
        spec["metrics"] = metrics
    behavior = take(_BEHAVIOR)
    if behavior:
        spec["behavior"] = behavior
    current_metrics = take(_CURRENT_METRICS) or []
    conditions = take(_CONDITIONS)
    if isinstance(status, dict):
        now = status.pop("currentCPUUtilizationPercentage", None)
        if now is not None:
            current_metrics.insert(
                0, {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": now}}}
            )
        if current_metrics:
            status["currentMetrics"] = current_metrics
        if conditions:
            status["conditions"] = conditions
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return out


# Core/v1 Event field -> events.k8s.io/v1 Event field (upstream's renames).
_EVENT_FIELDS = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
_EVENT_SHARED = ("reason", "type", "eventTime", "series", "action", "related", "reportingInstance")


def event_core_to_events(obj: Obj) -> Obj:
    out: Obj = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": copy.deepcopy(obj.get("metadata", {})),
    }
    for core_name, new_name in _EVENT_FIELDS.items():
        if obj.get(core_name) not in (None, "", {}, 0):
            out[new_name] = copy.deepcopy(obj[core_name])
    for name in _EVENT_SHARED:
        if obj.get(name) not in (None, ""):
            out[name] = copy.deepcopy(obj[name])
    return out


def event_events_to_core(obj: Obj) -> Obj:
    out: Obj = {"apiVersion": "v1", "kind": "Event", "metadata": copy.deepcopy(obj.get("metadata", {}))}
    for core_name, new_name in _EVENT_FIELDS.items():
        if obj.get(new_name) not in (None, ""):
            out[core_name] = copy.deepcopy(obj[new_name])
    for name in _EVENT_SHARED:
        if obj.get(name) not in (None, ""):
            out[name] = copy.deepcopy(obj[name])
    out.setdefault("involvedObject", {})
    return out


# (group, plural, served version) -> (storage → served, served → storage)
_CONVERSIONS: dict[tuple[str, str, str], tuple[Converter, Converter]] = {
    ("autoscaling", "horizontalpodautoscalers", "v1"): (hpa_v2_to_v1, hpa_v1_to_v2),
    ("events.k8s.io", "events", "v1"): (event_core_to_events, event_events_to_core),
}


def converters(resource: Resource) -> tuple[Converter, Converter] | None:
    """(storage → served, served → storage) for a resource served in a non-storage version."""
    stored_in = (
        resource.storage_group if resource.storage_group is not None else resource.group,
        resource.storage_version or resource.version,
    )
    if stored_in == (resource.group, resource.version):
        return None
    return _CONVERSIONS[(resource.group, resource.plural, resource.version)]
