"""Pure helpers that turn API objects into what the pages print (no I/O, unit-tested)."""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Mapping
from typing import Any

Obj = Mapping[str, Any]


def age(timestamp: str | None, now: datetime.datetime) -> str:
    """``5s``, ``3m``, ``2h``, ``4d`` since an RFC 3339 time, as kubectl's AGE column."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def condition(obj: Obj, kind: str) -> str:
    """The status of condition ``kind`` ("True", "False", "Unknown"; "" when absent)."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status", ""))
    return ""


def container_state(status: Obj) -> tuple[str, str]:
    """(state word, detail) of one containerStatuses entry: ("Running", "since ..."), ("Waiting", reason)."""
    state = status.get("state") or {}
    if "running" in state:
        return "Running", f"since {(state['running'] or {}).get('startedAt', '?')}"
    if "waiting" in state:
        waiting = state["waiting"] or {}
        return "Waiting", str(waiting.get("reason") or "")
    if "terminated" in state:
        done = state["terminated"] or {}
        return "Terminated", f"{done.get('reason') or ''} (exit code {done.get('exitCode', '?')})".strip()
    return "Unknown", ""


def pod_restarts(pod: Obj) -> int:
    return sum(
        int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or []
    )


def pod_health(pod: Obj) -> str:
    """ok / pending / failed: how a pod counts on the overview."""
    status = pod.get("status") or {}
    phase = status.get("phase", "")
    if phase == "Succeeded":
        return "ok"
    if phase == "Failed":
        return "failed"
    waiting = [
        (c.get("state") or {}).get("waiting", {}).get("reason", "")
        for c in status.get("containerStatuses") or []
        if "waiting" in (c.get("state") or {})
    ]
    if any(reason in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff") for reason in waiting):
        return "failed"
    if phase == "Running" and condition(pod, "Ready") == "True":
        return "ok"
    return "pending"


def workload_health(kind: str, obj: Obj) -> str:
    """ok / pending / failed for a controller, from the counts in its status."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "pods":
        return pod_health(obj)
    if kind == "daemonsets":
        wanted, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    elif kind == "jobs":
        if condition(obj, "Failed") == "True":
            return "failed"
        return "ok" if condition(obj, "Complete") == "True" or status.get("active") else "pending"
    elif kind == "cronjobs":
        return "ok"
    else:
        wanted, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    return "ok" if (ready or 0) >= (wanted or 0) else "pending"


def health_counts(kind: str, items: list[Obj]) -> dict[str, int]:
    counts = {"ok": 0, "pending": 0, "failed": 0}
    for item in items:
        counts[workload_health(kind, item)] += 1
    return counts


def node_summary(node: Obj) -> dict[str, str]:
    status = node.get("status") or {}
    capacity = status.get("capacity") or {}
    info = status.get("nodeInfo") or {}
    roles = sorted(
        key.removeprefix("node-role.kubernetes.io/")
        for key in ((node.get("metadata") or {}).get("labels") or {})
        if key.startswith("node-role.kubernetes.io/")
    )
    return {
        "name": (node.get("metadata") or {}).get("name", ""),
        "ready": condition(node, "Ready") or "Unknown",
        "roles": ",".join(roles) or "<none>",
        "cpu": str(capacity.get("cpu", "")),
        "memory": str(capacity.get("memory", "")),
        "pods": str(capacity.get("pods", "")),
        "version": str(info.get("kubeletVersion", "")),
        "unschedulable": "yes" if (node.get("spec") or {}).get("unschedulable") else "",
    }


def label_selector(selector: Obj | None) -> str:
    """A LabelSelector's matchLabels (and simple In/Exists expressions) as a query string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(expression.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(
                operator, f"!{key}"
            )
        )
    return ",".join(parts)


def decode_secret_value(value: str) -> str:
    """A Secret's data value as text (binary shown as a note, never as mojibake)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "<not base64>"
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes of binary data>"


def restart_patch(now: datetime.datetime) -> dict[str, Any]:
    """What ``kubectl rollout restart`` sends: a new restartedAt annotation on the pod template."""
    stamp = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
