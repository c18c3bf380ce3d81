"""Facts about Jobs shared by the job, cronjob and ttl-after-finished controllers.

A Job is finished once it has a ``Complete`` or ``Failed`` condition with
status ``True``; its finish time is that condition's ``lastTransitionTime``.
Controllers that compare against wall-clock time (deadlines, schedules,
TTLs) read it through :func:`wall_clock`, so tests can inject a clock via
``ControllerOptions.extra["wall_clock"]`` (a callable returning epoch seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.podutil import parse_time

Obj = dict[str, Any]
WallClock = Callable[[], float]

FINISHED_CONDITIONS = ("Complete", "Failed")


def wall_clock(options: ControllerOptions) -> WallClock:
    """The epoch-seconds clock a controller reads: real time unless a test injected one."""
    clock = options.extra.get("wall_clock")
    return clock if callable(clock) else time.time


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def has_condition(obj: Obj, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def finished_condition(job: Obj) -> Obj | None:
    """The ``Complete`` or ``Failed`` condition that is True, if the Job is finished."""
    for kind in FINISHED_CONDITIONS:
        cond = condition(job, kind)
        if cond is not None and cond.get("status") == "True":
            return cond
    return None


def is_finished(job: Obj) -> bool:
    return finished_condition(job) is not None


def finish_time(job: Obj) -> float | None:
    """When the Job finished: its finished condition's transition time (or completionTime)."""
    cond = finished_condition(job)
    if cond is None:
        return None
    return parse_time(cond.get("lastTransitionTime")) or parse_time(
        (job.get("status") or {}).get("completionTime")
    )


def new_condition(kind: str, reason: str, message: str, now: float, status: str = "True") -> Obj:
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


def set_condition(status: Obj, cond: Obj) -> bool:
    """Put ``cond`` into ``status.conditions``; returns True if anything changed.

    An existing condition of the same type keeps its transition time unless
    its status flips, as upstream's condition helpers do.
    """
    conditions: list[Obj] = status.setdefault("conditions", [])
    for i, old in enumerate(conditions):
        if old.get("type") != cond["type"]:
            continue
        if old.get("status") == cond["status"]:
            if old.get("reason") == cond["reason"] and old.get("message") == cond["message"]:
                return False
            cond = {**cond, "lastTransitionTime": old.get("lastTransitionTime", cond["lastTransitionTime"])}
        conditions[i] = cond
        return True
    conditions.append(cond)
    return True
