"""Pure rules of the node lifecycle controller: which taints a node's state calls for, how long a pod
may stay on a NoExecute-tainted node, and how sick a zone is.

Nothing here does I/O or reads a clock; ``nodelifecycle`` feeds it objects from its caches and
times from its own clock.
"""

from __future__ import annotations

import enum
from typing import Any

from kubeling.api.scheduling import toleration_tolerates

Obj = dict[str, Any]

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

# condition type → {condition status → NoSchedule taint key} (upstream's TaintNodesByCondition map)
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": MEMORY_PRESSURE},
    "DiskPressure": {"True": DISK_PRESSURE},
    "NetworkUnavailable": {"True": NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": PID_PRESSURE},
}
NO_SCHEDULE_KEYS = frozenset({*(k for m in CONDITION_TAINTS.values() for k in m.values()), UNSCHEDULABLE})
NO_EXECUTE_KEYS = frozenset({NOT_READY, UNREACHABLE})

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


def node_condition(node: Obj, kind: str) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def ready_status(node: Obj) -> str | None:
    """True, False, Unknown, or None when the kubelet never posted a Ready condition."""
    cond = node_condition(node, "Ready")
    return None if cond is None else str(cond.get("status") or "Unknown")


def no_schedule_keys(node: Obj) -> set[str]:
    """The NoSchedule taint keys the node's conditions and spec.unschedulable call for."""
    keys = set()
    for cond in (node.get("status") or {}).get("conditions") or []:
        key = CONDITION_TAINTS.get(cond.get("type", ""), {}).get(cond.get("status", ""))
        if key:
            keys.add(key)
    if (node.get("spec") or {}).get("unschedulable"):
        keys.add(UNSCHEDULABLE)
    return keys


def no_execute_key_for(status: str | None) -> str | None:
    """The NoExecute taint a node's Ready status calls for (None: healthy, or never reported yet)."""
    return {"False": NOT_READY, "Unknown": UNREACHABLE}.get(status or "")


def current_no_execute_key(node: Obj) -> str | None:
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") == NO_EXECUTE and taint.get("key") in NO_EXECUTE_KEYS:
            return str(taint["key"])
    return None


def desired_taints(node: Obj, no_schedule: set[str], no_execute: str | None, now: str) -> list[Obj]:
    """The node's taints with the controller's own set to exactly ``no_schedule`` + ``no_execute``.

    Taints of other owners are kept as they are, and so are ours that stay (with their timeAdded);
    new ones are stamped ``timeAdded: now``.
    """
    existing = list((node.get("spec") or {}).get("taints") or [])

    def ours(taint: Obj) -> bool:
        effect, key = taint.get("effect"), taint.get("key")
        return (effect == NO_SCHEDULE and key in NO_SCHEDULE_KEYS) or (
            effect == NO_EXECUTE and key in NO_EXECUTE_KEYS
        )

    wanted = {(key, NO_SCHEDULE) for key in no_schedule}
    if no_execute:
        wanted.add((no_execute, NO_EXECUTE))
    result = [t for t in existing if not ours(t) or (t.get("key"), t.get("effect")) in wanted]
    present = {(t.get("key"), t.get("effect")) for t in result}
    for key, effect in sorted(wanted - present):
        result.append({"key": key, "effect": effect, "timeAdded": now})
    return result


def same_taints(a: list[Obj], b: list[Obj]) -> bool:
    def keyset(taints: list[Obj]) -> set[tuple[str, str, str]]:
        return {(t.get("key", ""), t.get("value", "") or "", t.get("effect", "")) for t in taints}

    return keyset(a) == keyset(b)


def toleration_delay(tolerations: list[Obj], taints: list[Obj]) -> float | None:
    """Seconds a pod may stay on a node with these NoExecute ``taints``; None means forever.

    A taint no toleration matches evicts at once (0).  Otherwise the shortest ``tolerationSeconds``
    among the tolerations matching any taint counts (zero or less: at once); matching tolerations
    without ``tolerationSeconds`` tolerate forever.
    """
    used: list[Obj] = []
    for taint in taints:
        matching = [t for t in tolerations if toleration_tolerates(t, taint)]
        if not matching:
            return 0.0
        used += matching
    if not used:
        return None
    seconds = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return max(0.0, float(min(seconds)))


def zone_of(node: Obj) -> str:
    """Upstream's zone key: region and zone labels joined by ``:\\x00:``."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region, zone = labels.get(REGION_LABEL, ""), labels.get(ZONE_LABEL, "")
    return f"{region}:\x00:{zone}" if region or zone else ""


class ZoneState(enum.StrEnum):
    NORMAL = "Normal"
    PARTIAL_DISRUPTION = "PartialDisruption"
    FULL_DISRUPTION = "FullDisruption"


def zone_state(ready: int, not_ready: int, unhealthy_threshold: float = 0.55) -> ZoneState:
    """Upstream's ComputeZoneState: all down is full disruption; over 2 and past the threshold, partial."""
    if ready == 0 and not_ready > 0:
        return ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (ready + not_ready) >= unhealthy_threshold:
        return ZoneState.PARTIAL_DISRUPTION
    return ZoneState.NORMAL


def zone_eviction_rate(
    state: ZoneState,
    zone_size: int,
    *,
    rate: float,
    secondary_rate: float,
    large_cluster_threshold: int,
) -> float:
    """Nodes per second that may get NoExecute taints in a zone (0: none)."""
    if state is ZoneState.PARTIAL_DISRUPTION:
        return secondary_rate if zone_size > large_cluster_threshold else 0.0
    return rate  # Normal, and a zone fully down while others are up: it is likely really down
