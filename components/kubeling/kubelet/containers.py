"""What to do with one pod's containers: upstream's computePodActions, and the crash back-off.

:func:`compute_actions` is pure: given the pod's spec, what the runtime holds
for it (:class:`PodState`) and the probe verdicts, it says whether the
sandbox must be (re)created or the whole pod killed, which init container
runs next, which app containers start and which running ones are killed.
The pod worker carries the actions out; back-off is checked there, at start
time, against :class:`BackOff` (10 s doubling to 300 s, forgotten after a
quiet 10 minutes — as upstream's flowcontrol.Backoff with 2 x max).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from kubeling.kubelet import runtime as rt

Obj = dict[str, Any]
CONTAINER_HASH = "io.kubernetes.container.hash"  # label: the spec a container was created from


def container_hash(container: Obj) -> str:
    """A stable hash of a container's spec; a changed spec restarts the container."""
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class PodState:
    """Everything the runtime holds for one pod uid (from the runtime's labels)."""

    sandboxes: list[rt.SandboxStatus] = field(default_factory=list)
    containers: list[rt.ContainerStatus] = field(default_factory=list)

    def latest_sandbox(self) -> rt.SandboxStatus | None:
        return max(self.sandboxes, key=lambda s: (s.created_at, s.attempt), default=None)

    def history(self, name: str) -> list[rt.ContainerStatus]:
        """The containers of one spec name, newest first."""
        found = [c for c in self.containers if c.name == name]
        return sorted(found, key=lambda c: (c.attempt, c.created_at), reverse=True)

    def latest(self, name: str) -> rt.ContainerStatus | None:
        found = self.history(name)
        return found[0] if found else None

    def running(self) -> list[rt.ContainerStatus]:
        return [c for c in self.containers if c.state == "running"]


@dataclass
class PodActions:
    kill_pod: bool = False
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    next_init: int | None = None  # index into spec.initContainers
    start: list[int] = field(default_factory=list)  # indexes into spec.containers
    kill: dict[str, str] = field(default_factory=dict)  # running container id -> why


def restart_policy(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("restartPolicy") or "Always"


def should_restart(pod: Obj, status: rt.ContainerStatus | None) -> bool:
    """Whether a container that is not running must be (re)started."""
    if status is None or status.state in ("created", "unknown"):
        return True
    if status.state == "running":
        return False
    policy = restart_policy(pod)
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return status.exit_code != 0
    return True


def _succeeded(status: rt.ContainerStatus | None) -> bool:
    return status is not None and status.state == "exited" and status.exit_code == 0


def compute_actions(pod: Obj, state: PodState, *, unhealthy: dict[str, str] | None = None) -> PodActions:
    """upstream's computePodActions; ``unhealthy`` maps container ids whose liveness/startup probe failed."""
    spec = pod.get("spec") or {}
    unhealthy = unhealthy or {}
    inits: list[Obj] = spec.get("initContainers") or []
    apps: list[Obj] = spec.get("containers") or []
    actions = PodActions()
    sandbox = state.latest_sandbox()
    ready_sandboxes = [s for s in state.sandboxes if s.ready]
    if sandbox is None or not sandbox.ready or len(ready_sandboxes) > 1:
        actions.create_sandbox = True
        actions.kill_pod = bool(state.running()) or any(s.ready for s in state.sandboxes)
        actions.sandbox_attempt = 0 if sandbox is None else sandbox.attempt + 1
        # The sandbox died after the containers ran: a pod that doesn't restart them is done.
        ran = [state.latest(c["name"]) for c in apps if state.latest(c["name"])]
        policy = restart_policy(pod)
        if ran and (policy == "Never" or (policy == "OnFailure" and all(_succeeded(s) for s in ran))):
            actions.create_sandbox = False
            actions.kill_pod = True
            return actions
        if inits:
            actions.next_init = 0
        else:
            actions.start = [
                i
                for i, c in enumerate(apps)
                if not (restart_policy(pod) == "OnFailure" and _succeeded(state.latest(c["name"])))
            ]
        return actions

    # Init containers run one at a time, in order, each to a zero exit.
    for index, container in enumerate(inits):
        status = state.latest(container["name"])
        if _succeeded(status):
            continue
        if status is not None and status.state == "running":
            return actions  # wait for it
        if status is not None and status.state == "exited" and restart_policy(pod) == "Never":
            actions.kill_pod = True  # a failed init container fails the pod
            return actions
        actions.next_init = index
        return actions

    keep = 0
    for index, container in enumerate(apps):
        status = state.latest(container["name"])
        if status is None or status.state != "running":
            if should_restart(pod, status):
                actions.start.append(index)
            continue
        reason = ""
        if status.id in unhealthy:
            reason = unhealthy[status.id]
        elif status.labels.get(CONTAINER_HASH, container_hash(container)) != container_hash(container):
            reason = f"Container {container['name']} definition changed, will be restarted"
        if not reason:
            keep += 1
            continue
        actions.kill[status.id] = reason
        if restart_policy(pod) != "Never":
            actions.start.append(index)
    if keep == 0 and not actions.start:
        actions.kill_pod = True  # nothing left to run: stop the sandbox too
    return actions


# -- back-off ----------------------------------------------------------------------------------


@dataclass
class _Entry:
    delay: float
    last_update: float


class BackOff:
    """Per-key exponential back-off: ``initial`` doubling to ``cap``, forgotten after ``reset_after``."""

    def __init__(self, initial: float = 10.0, cap: float = 300.0, reset_after: float = 600.0) -> None:
        self.initial = initial
        self.cap = cap
        self.reset_after = reset_after
        self._entries: dict[str, _Entry] = {}

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def next(self, key: str, now: float) -> float:
        """Record one more failure at ``now``; returns the delay now in force."""
        entry = self._entries.get(key)
        if entry is None or now - entry.last_update > self.reset_after:
            entry = self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
            entry.last_update = now
        return entry.delay

    def in_backoff_since(self, key: str, since: float, now: float) -> bool:
        """Whether ``key`` must still wait, counting its delay from ``since`` (when the container died)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if now - entry.last_update > self.reset_after:
            return False  # ran long enough: the next failure starts from ``initial`` again
        return now - since < entry.delay

    def remaining(self, key: str, since: float, now: float) -> float:
        entry = self._entries.get(key)
        return max(0.0, since + entry.delay - now) if entry else 0.0

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def gc(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.reset_after]:
            del self._entries[key]
