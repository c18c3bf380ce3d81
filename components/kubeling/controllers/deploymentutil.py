"""Pure Deployment arithmetic: fenceposts, annotations, conditions, status and proportional scaling.

Everything here reads plain Deployment and ReplicaSet dicts and returns
numbers or new dicts, with no I/O, so the rollout rules can be tested as a
table.  The names follow upstream's ``deployment/util`` package so the two
are easy to compare.
"""

from __future__ import annotations

import math
from typing import Any

from kubeling.controllers.history import equal_ignore_hash

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_REVISION_HISTORY_CHARS = 2000

# Deployment annotations a ReplicaSet does not inherit (they describe the Deployment itself).
_NOT_COPIED = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}

PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"

NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

MAX_INT32 = 2**31 - 1


# -- small accessors --------------------------------------------------------------------


def spec_replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Obj | None, field: str) -> int:
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(field) or 0)


def annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def revision(obj: Obj) -> int:
    try:
        return int(annotations(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def int_annotation(obj: Obj, key: str) -> int | None:
    try:
        return int(annotations(obj)[key])
    except (KeyError, ValueError):
        return None


def creation_key(rs: Obj) -> tuple[str, str]:
    meta = rs["metadata"]
    return meta.get("creationTimestamp") or "", meta.get("name", "")


# -- strategy arithmetic -------------------------------------------------------------------


def is_rolling_update(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An int-or-percent against ``total`` (upstream's GetScaledValueFromIntOrPercent)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text)
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; both zero means one unavailable."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Obj) -> Obj:
    return ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    rolling = _rolling(d)
    return resolve_fenceposts(
        rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), spec_replicas(d)
    )[0]


def max_unavailable(d: Obj) -> int:
    replicas = spec_replicas(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    rolling = _rolling(d)
    _, unavailable = resolve_fenceposts(
        rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), replicas
    )
    return min(unavailable, replicas)


# -- ReplicaSet sets --------------------------------------------------------------------------


def replica_count(rss: list[Obj | None]) -> int:
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def actual_count(rss: list[Obj | None]) -> int:
    return sum(status_int(rs, "replicas") for rs in rss if rs is not None)


def ready_count(rss: list[Obj | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in rss if rs is not None)


def available_count(rss: list[Obj | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in rss if rs is not None)


def active(rss: list[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def find_new(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's (ignoring pod-template-hash)."""
    template = (d.get("spec") or {}).get("template") or {}
    for rs in sorted(rss, key=creation_key):
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


def find_old(d: Obj, rss: list[Obj], new: Obj | None) -> list[Obj]:
    new_uid = new["metadata"]["uid"] if new is not None else None
    return [rs for rs in rss if rs["metadata"].get("uid") != new_uid]


def max_revision(rss: list[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def new_rs_new_replicas(d: Obj, all_rss: list[Obj | None], new: Obj) -> int:
    """How big the new ReplicaSet may be now (upstream's NewRSNewReplicas)."""
    if not is_rolling_update(d):
        return spec_replicas(d)
    current = replica_count(all_rss)
    max_total = spec_replicas(d) + max_surge(d)
    if current >= max_total:
        return spec_replicas(new)
    scale_up = min(max_total - current, spec_replicas(d) - spec_replicas(new))
    return spec_replicas(new) + scale_up


def find_active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
    """The only ReplicaSet with pods, or the newest if none has any; None when several have."""
    if new is None and not old:
        return None
    newest_first = sorted(old, key=creation_key, reverse=True)
    live = active([*newest_first, new])
    if not live:
        return new if new is not None else newest_first[0]
    if len(live) == 1:
        return live[0]
    return None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    replicas = spec_replicas(d)
    return (
        int_annotation(rs, DESIRED_REPLICAS) == replicas
        and spec_replicas(rs) == replicas
        and status_int(rs, "availableReplicas") == replicas
    )


def _round_half_away(value: float) -> int:
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def rs_fraction(rs: Obj, d: Obj) -> int:
    """How much ``rs`` grows or shrinks when the Deployment is resized (proportionally to its size)."""
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    deployment_replicas = spec_replicas(d) + max_surge(d)
    annotated = int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = status_int(d, "replicas")
    if annotated == 0:
        return 0
    return _round_half_away(spec_replicas(rs) * deployment_replicas / annotated) - spec_replicas(rs)


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = rs_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(d: Obj, rss: list[Obj]) -> dict[str, int]:
    """New sizes of the active ReplicaSets when a rolling Deployment is resized mid-rollout."""
    live = active(list(rss))
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - replica_count(list(live))
    if to_add > 0:
        # Bigger first; among equals the newer first.
        live.sort(key=lambda rs: creation_key(rs), reverse=True)
        live.sort(key=spec_replicas, reverse=True)
    elif to_add < 0:
        # Bigger first; among equals the older first.
        live.sort(key=creation_key)
        live.sort(key=spec_replicas, reverse=True)
    sizes: dict[str, int] = {}
    added = 0
    for rs in live:
        name = rs["metadata"]["name"]
        if to_add != 0:
            share = proportion(rs, d, to_add, added)
            sizes[name] = spec_replicas(rs) + share
            added += share
        else:
            sizes[name] = spec_replicas(rs)
    if live and added != to_add:
        leftover = live[0]["metadata"]["name"]
        sizes[leftover] = max(sizes[leftover] + to_add - added, 0)
    return sizes


# -- annotations ------------------------------------------------------------------------------


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's own annotations onto the ReplicaSet; True if any changed."""
    target = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in annotations(d).items():
        if key in _NOT_COPIED:
            continue
        if target.get(key) != value:
            target[key] = value
            changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    target = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if target.get(key) != value:
            target[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    current = annotations(rs)
    return current.get(DESIRED_REPLICAS) != str(desired) or current.get(MAX_REPLICAS) != str(max_replicas)


def set_new_rs_annotations(
    d: Obj, rs: Obj, new_revision: str, *, exists: bool, limit_chars: int = MAX_REVISION_HISTORY_CHARS
) -> bool:
    """Annotate the new ReplicaSet: copied annotations, its revision, the revisions it had before."""
    changed = copy_deployment_annotations(d, rs)
    target = rs["metadata"]["annotations"]
    old = target.get(REVISION)
    try:
        old_int = int(old) if old is not None else 0
    except ValueError:
        old_int = 0
    new_int = int(new_revision)
    if old_int < new_int:
        target[REVISION] = new_revision
        changed = True
    if old is not None and old_int < new_int:
        # A ReplicaSet brought back to life by a rollback keeps its earlier revision numbers.
        history = target.get(REVISION_HISTORY, "")
        kept = history.split(",") if history else []
        total = len(history) + len(old) + 1
        start = 0
        while total > limit_chars and start < len(kept):
            total -= len(kept[start]) + 1
            start += 1
        if total <= limit_chars:
            target[REVISION_HISTORY] = ",".join([*kept[start:], old])
    if not exists and set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: Obj, new_revision: str) -> bool:
    target = d.setdefault("metadata", {}).setdefault("annotations", {})
    if target.get(REVISION) != new_revision:
        target[REVISION] = new_revision
        return True
    return False


# -- conditions -----------------------------------------------------------------------------


def get_condition(status: Obj, kind: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def new_condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, cond: Obj) -> None:
    """Upstream's SetDeploymentCondition: no-op for the same status and reason; keeps transition time."""
    current = get_condition(status, cond["type"])
    if (
        current is not None
        and current.get("status") == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, kind: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and int(deadline) != MAX_INT32


# -- status --------------------------------------------------------------------------------


def calculate_status(all_rss: list[Obj | None], new: Obj | None, d: Obj, now: str) -> Obj:
    available = available_count(all_rss)
    total = replica_count(all_rss)
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 0),
        "replicas": actual_count(all_rss),
        "updatedReplicas": actual_count([new]),
        "readyReplicas": ready_count(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    previous = d.get("status") or {}
    if previous.get("collisionCount") is not None:
        status["collisionCount"] = previous["collisionCount"]
    if previous.get("conditions"):
        status["conditions"] = [dict(c) for c in previous["conditions"]]
    if available >= spec_replicas(d) - max_unavailable(d):
        cond = new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = new_condition(
            AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now
        )
    set_condition(status, cond)
    return status


def deployment_complete(d: Obj, status: Obj) -> bool:
    replicas = spec_replicas(d)
    return (
        int(status.get("updatedReplicas") or 0) == replicas
        and int(status.get("replicas") or 0) == replicas
        and int(status.get("availableReplicas") or 0) == replicas
        and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0)
    )


def deployment_progressing(d: Obj, status: Obj) -> bool:
    old = d.get("status") or {}

    def get(s: Obj, field: str) -> int:
        return int(s.get(field) or 0)

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(status, "replicas") - get(status, "updatedReplicas")
    return (
        get(status, "updatedReplicas") > get(old, "updatedReplicas")
        or new_old < old_old
        or get(status, "readyReplicas") > get(old, "readyReplicas")
        or get(status, "availableReplicas") > get(old, "availableReplicas")
    )


def deployment_timed_out(d: Obj, status: Obj, now: float, parse: Any) -> bool:
    """Progressing has not moved for ``progressDeadlineSeconds`` (``parse``: RFC 3339 → epoch)."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None:
        return False
    if cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + int(d["spec"]["progressDeadlineSeconds"]) < now
