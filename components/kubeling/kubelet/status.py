"""Pod status: computed from the runtime's view, written with PATCH only when it changed.

:func:`compute_status` is pure (upstream's generateAPIPodStatus + getPhase):
the pod, what the runtime holds for it, the waiting reasons the pod worker
recorded (back-off, image pulls, config errors) and the probe verdicts make
the whole ``status``.  :class:`StatusManager` keeps what it last wrote per
pod uid and sends a merge PATCH of ``pods/status`` when the new status
differs; it also confirms deletions (DELETE with gracePeriodSeconds=0 once
nothing runs), as upstream's status manager does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeling.api import errors
from kubeling.kubelet import runtime as rt
from kubeling.kubelet.containers import PodState, restart_policy

log = logging.getLogger(__name__)
Obj = dict[str, Any]
OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
TERMINAL = ("Succeeded", "Failed")


def timestamp(epoch: float) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ProbeView:
    """What the probes say about each container id."""

    ready: dict[str, bool] = field(default_factory=dict)  # readiness (missing: not ready yet)
    started: dict[str, bool] = field(default_factory=dict)  # startup (missing: started once running)
    has_readiness: set[str] = field(default_factory=set)  # container names with a readiness probe
    has_startup: set[str] = field(default_factory=set)


def _terminated(status: rt.ContainerStatus) -> Obj:
    reason = status.reason or ("Completed" if status.exit_code == 0 else "Error")
    out: Obj = {
        "exitCode": status.exit_code,
        "reason": reason,
        "startedAt": timestamp(status.started_at),
        "finishedAt": timestamp(status.finished_at),
        "containerID": f"docker://{status.id}",
    }
    if status.message:
        out["message"] = status.message
    return out


def container_status(
    container: Obj,
    history: list[rt.ContainerStatus],
    *,
    waiting: tuple[str, str] | None,
    probes: ProbeView,
    default_waiting: str,
) -> Obj:
    """One entry of containerStatuses; ``history`` is newest first."""
    name = container["name"]
    out: Obj = {
        "name": name,
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": default_waiting}},
        "lastState": {},
    }
    latest = history[0] if history else None
    if latest is None:
        if waiting:
            out["state"] = {"waiting": _waiting(*waiting)}
        return out
    out["containerID"] = f"docker://{latest.id}"
    out["imageID"] = latest.image_ref
    out["restartCount"] = latest.attempt
    previous = next((c for c in history[1:] if c.state == "exited"), None)
    if previous is not None:
        out["lastState"] = {"terminated": _terminated(previous)}
    if latest.state == "running":
        out["state"] = {"running": {"startedAt": timestamp(latest.started_at)}}
        started = probes.started.get(latest.id, name not in probes.has_startup)
        out["started"] = started
        ready = probes.ready.get(latest.id, False) if name in probes.has_readiness else True
        out["ready"] = bool(started and ready)
    elif latest.state == "exited":
        if waiting:  # about to restart (back-off): the last run moves to lastState
            out["state"] = {"waiting": _waiting(*waiting)}
            out["lastState"] = {"terminated": _terminated(latest)}
        else:
            out["state"] = {"terminated": _terminated(latest)}
    else:
        out["state"] = {"waiting": _waiting(*(waiting or (default_waiting, "")))}
    return out


def _waiting(reason: str, message: str) -> Obj:
    return {"reason": reason, "message": message} if message else {"reason": reason}


def phase(pod: Obj, init_statuses: list[Obj], statuses: list[Obj]) -> str:
    """upstream's getPhase over the computed container statuses."""
    policy = restart_policy(pod)
    pending_init = 0
    failed_init = False
    for status in init_statuses:
        term = status["state"].get("terminated")
        if term and term["exitCode"] == 0:
            continue
        pending_init += 1
        last = (status.get("lastState") or {}).get("terminated")
        if (term and term["exitCode"] != 0) or (last and last["exitCode"] != 0):
            failed_init = True
    if failed_init and policy == "Never":
        return "Failed"
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif (status.get("lastState") or {}).get("terminated"):
            stopped += 1
            succeeded += status["lastState"]["terminated"]["exitCode"] == 0
        else:
            waiting += 1
    if pending_init and not running and not stopped:
        return "Pending"
    if running and not waiting:
        return "Running"
    if not running and stopped and not waiting:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    if running:
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    out: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        out["reason"] = reason
    if not ok and message:
        out["message"] = message
    return out


def compute_status(
    pod: Obj,
    state: PodState,
    *,
    waiting: dict[str, tuple[str, str]] | None = None,
    probes: ProbeView | None = None,
    host_ip: str = "",
    now: float = 0.0,
) -> Obj:
    """The pod's whole status; ``waiting`` maps container names to (reason, message)."""
    waiting = waiting or {}
    probes = probes or ProbeView()
    spec = pod.get("spec") or {}
    old: Obj = pod.get("status") or {}
    inits = [
        container_status(
            c,
            state.history(c["name"]),
            waiting=waiting.get(c["name"]),
            probes=probes,
            default_waiting="PodInitializing",
        )
        for c in spec.get("initContainers") or []
    ]
    for status in inits:  # init containers are never "ready" while they run; done ones are
        term = status["state"].get("terminated")
        status["ready"] = bool(term and term["exitCode"] == 0)
    initialized = all(s["ready"] for s in inits)
    default = "ContainerCreating" if initialized else "PodInitializing"
    apps = [
        container_status(
            c,
            state.history(c["name"]),
            waiting=waiting.get(c["name"]),
            probes=probes,
            default_waiting=default,
        )
        for c in spec.get("containers") or []
    ]
    current = old.get("phase") if old.get("phase") in TERMINAL else phase(pod, inits, apps)
    sandbox = state.latest_sandbox()
    out: Obj = {"phase": current, "qosClass": old.get("qosClass") or _qos(spec)}
    if host_ip:
        out["hostIP"] = host_ip
        out["hostIPs"] = [{"ip": host_ip}]
    if spec.get("hostNetwork") and host_ip:
        out["podIP"] = host_ip  # the node's network is the pod's
        out["podIPs"] = [{"ip": host_ip}]
    elif sandbox is not None and sandbox.ready:
        ips = sandbox.ips or ([sandbox.ip] if sandbox.ip else [])
        if ips:
            out["podIP"] = ips[0]
            out["podIPs"] = [{"ip": ip} for ip in ips]
    elif old.get("podIP"):  # keep the last known IP while the pod stops (upstream keeps it too)
        out["podIP"] = old["podIP"]
        out["podIPs"] = old.get("podIPs") or [{"ip": old["podIP"]}]
    out["startTime"] = old.get("startTime") or timestamp(now or (sandbox.created_at if sandbox else 0.0))
    out["initContainerStatuses"] = inits
    out["containerStatuses"] = apps
    if not inits:
        del out["initContainerStatuses"]
    out["conditions"] = _conditions(pod, current, sandbox, inits, apps, old)
    return out


def _conditions(
    pod: Obj, current: str, sandbox: rt.SandboxStatus | None, inits: list[Obj], apps: list[Obj], old: Obj
) -> list[Obj]:
    spec = pod.get("spec") or {}
    not_init = [s["name"] for s in inits if not s["ready"]]
    not_ready = [s["name"] for s in apps if not s["ready"]]
    sandbox_ok = sandbox is not None and sandbox.ready
    conditions = [_condition("PodReadyToStartContainers", sandbox_ok)]
    if current == "Succeeded":
        done = "PodCompleted"
        conditions.append(_condition("Initialized", True))
        conditions.append(_condition("ContainersReady", False, done))
        conditions.append(_condition("Ready", False, done))
    else:
        conditions.append(
            _condition(
                "Initialized",
                not not_init,
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(not_init)}]",
            )
        )
        containers_ready = not not_ready and not not_init
        message = f"containers with unready status: [{' '.join(not_ready)}]"
        conditions.append(_condition("ContainersReady", containers_ready, "ContainersNotReady", message))
        old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
        gates = [g.get("conditionType") for g in spec.get("readinessGates") or []]
        unmet = [g for g in gates if (old_conditions.get(g) or {}).get("status") != "True"]
        if not containers_ready:
            ready = _condition("Ready", False, "ContainersNotReady", message)
        elif unmet:
            ready = _condition(
                "Ready",
                False,
                "ReadinessGatesNotReady",
                f"corresponding condition of pod readiness gate {unmet[0]!r} does not exist.",
            )
        else:
            ready = _condition("Ready", True)
        conditions.append(ready)
    # Conditions others own (PodScheduled, DisruptionTarget, readiness gates) are kept as they are.
    kept = [c for c in old.get("conditions") or [] if c.get("type") not in OWN_CONDITIONS]
    now = timestamp(datetime.now(UTC).timestamp())
    old_by_type = {c.get("type"): c for c in old.get("conditions") or []}
    for condition in conditions:
        previous = old_by_type.get(condition["type"])
        same = previous is not None and previous.get("status") == condition["status"]
        condition["lastTransitionTime"] = previous.get("lastTransitionTime") if same and previous else now
    return kept + conditions


def _qos(spec: Obj) -> str:
    from kubeling.apiserver.strategies import qos_class

    return qos_class(spec)


def comparable(status: Obj) -> Obj:
    """A status without the timestamps that move on their own, to tell real changes apart."""
    out = dict(status)
    out["conditions"] = sorted(
        (
            {k: v for k, v in c.items() if k not in ("lastTransitionTime", "lastProbeTime")}
            for c in status.get("conditions") or []
        ),
        key=lambda c: c.get("type", ""),
    )
    return out


# -- writing --------------------------------------------------------------------------------


def _revision(resource_version: str | None) -> int:
    """kubeling's resourceVersions are storage revisions; anything else counts as unknown (-1)."""
    try:
        return int(resource_version or "")
    except ValueError:
        return -1


class StatusManager:
    """Writes pod statuses (merge PATCH of pods/status, only when changed) and confirms deletions.

    "Changed" is judged against what this kubelet last wrote and, as upstream's status manager
    reconciles, against the pod as the API has it now: a status someone else rewrote after our
    write (the node lifecycle controller marks pods not Ready while their node is unreachable)
    is written again, or a pod would stay not Ready after its node came back.
    """

    def __init__(
        self, client: Any, pods_resource: Any, *, on_error: Callable[[str], None] | None = None
    ) -> None:
        self.client = client
        self.pods = pods_resource
        self.on_error = on_error
        self._sent: dict[str, Obj] = {}
        self._sent_revision: dict[str, int] = {}  # the pod's revision our last write produced

    def forget(self, uid: str) -> None:
        self._sent.pop(uid, None)
        self._sent_revision.pop(uid, None)

    def changed(self, pod: Obj, status: Obj) -> bool:
        uid = pod["metadata"]["uid"]
        wanted = comparable(status)
        known = self._sent.get(uid)
        if known is None:
            return wanted != comparable(pod.get("status") or {})
        if wanted != known:
            return True
        # Same as our last write: rewrite only if a later write by someone else changed it.
        observed = _revision(pod["metadata"].get("resourceVersion"))
        newer = observed > self._sent_revision.get(uid, -1) >= 0
        return newer and wanted != comparable(pod.get("status") or {})

    async def set_status(self, pod: Obj, status: Obj) -> bool:
        """PATCH the pod's status when it differs from what was last written; True when written."""
        if not self.changed(pod, status):
            return False
        meta = pod["metadata"]
        body = {"metadata": {"uid": meta["uid"]}, "status": status}
        try:
            written = await self.client.patch(
                self.pods, body, name=meta["name"], namespace=meta["namespace"], subresource="status"
            )
        except errors.StatusError as exc:
            if exc.code == 404:
                return False
            raise
        self._sent[meta["uid"]] = comparable(status)
        revision = (written or {}).get("metadata", {}).get("resourceVersion")
        self._sent_revision[meta["uid"]] = _revision(revision)
        return True

    async def confirm_deletion(self, pod: Obj) -> None:
        """The pod's containers are gone: remove the object for good (gracePeriodSeconds=0)."""
        meta = pod["metadata"]
        try:
            await self.client.delete(
                self.pods,
                name=meta["name"],
                namespace=meta["namespace"],
                grace_period_seconds=0,
                preconditions={"uid": meta["uid"]},
            )
        except errors.StatusError as exc:
            if exc.code not in (404, 409):
                raise
        self.forget(meta["uid"])
