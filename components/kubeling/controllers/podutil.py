"""Pod facts every workload controller needs: active, ready, available, made from a template."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeling.controllers.ownership import new_controller_ref

Obj = dict[str, Any]

TERMINAL_PHASES = ("Succeeded", "Failed")
# Pods indexed by spec.nodeName (node lifecycle and taint eviction share it).
BY_NODE = "pods:by_node"


def pod_node_index(pod: Obj) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [name] if name else []


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """An RFC 3339 timestamp (metav1.Time or MicroTime) as epoch seconds."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def is_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not is_terminal(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp")


def condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``minReadySeconds`` (upstream's IsPodAvailable)."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= now


def pod_from_template(
    template: Obj,
    owner: Obj,
    *,
    generate_name: str | None = None,
    name: str | None = None,
    owner_api_version: str | None = None,
    owner_kind: str | None = None,
) -> Obj:
    """A Pod body from a PodTemplateSpec, controlled by ``owner``."""
    template_meta = template.get("metadata") or {}
    meta: Obj = {
        "labels": dict(template_meta.get("labels") or {}),
        "annotations": dict(template_meta.get("annotations") or {}),
        "ownerReferences": [new_controller_ref(owner, api_version=owner_api_version, kind=owner_kind)],
    }
    if template_meta.get("finalizers"):
        meta["finalizers"] = list(template_meta["finalizers"])
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name or f"{owner['metadata']['name']}-"
    if not meta["annotations"]:
        del meta["annotations"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key: pods to delete first sort first (upstream's ActivePods ordering).

    Unscheduled before scheduled, Pending before Unknown before Running, not
    ready before ready, more restarts before fewer, newer before older.
    """
    status = pod.get("status") or {}
    ready_cond = condition(pod, "Ready")
    ready = ready_cond is not None and ready_cond.get("status") == "True"
    ready_since = parse_time(ready_cond.get("lastTransitionTime")) if ready and ready_cond else 0.0
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or 0.0
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", ""), 0),
        ready,
        -(ready_since or 0.0),  # ready more recently first
        -restarts(pod),
        -created,  # newer first
    )
