"""Conversion between API versions that share one storage location.

Objects are stored in their resource's storage version; a request in another
version sees them converted on the way out and is converted back on the way
in.  Today that is HorizontalPodAutoscaler: stored as autoscaling/v2 and also
served as autoscaling/v1.  As upstream does, what v1 cannot express (other
metrics, behavior, conditions) rides in ``autoscaling.alpha.kubernetes.io/*``
annotations so a round trip through v1 loses nothing.
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


# (group, plural, served version, storage version) -> (to served, to storage)
_CONVERSIONS: dict[tuple[str, str, str, str], tuple[Converter, Converter]] = {
    ("autoscaling", "horizontalpodautoscalers", "v1", "v2"): (hpa_v2_to_v1, hpa_v1_to_v2),
}


def converters(resource: Resource) -> tuple[Converter, Converter] | None:
    """(storage → served, served → storage) for a resource served in a non-storage version."""
    storage_version = resource.storage_version or resource.version
    if storage_version == resource.version:
        return None
    return _CONVERSIONS[(resource.group, resource.plural, resource.version, storage_version)]
