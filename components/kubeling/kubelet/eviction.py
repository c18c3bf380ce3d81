"""Node-pressure eviction: thresholds, node conditions, and evicting pods one at a time.

Every ``interval`` (upstream's 10 s housekeeping) the manager measures the
node's eviction signals and compares them with the thresholds:

- signals (available amount, capacity): ``memory.available`` (MemAvailable of
  MemTotal), ``nodefs.available`` / ``nodefs.inodesFree`` (the kubelet's root
  dir filesystem), ``imagefs.available`` / ``imagefs.inodesFree`` (the
  engine's image store), ``pid.available`` (pid_max less the processes);
- a threshold is met when the available amount drops below its quantity
  ("100Mi") or percentage of the capacity ("10%").  Hard thresholds
  (``--eviction-hard``, upstream's defaults when not given) count at once;
  soft ones (``--eviction-soft``) only once met for their whole
  ``--eviction-soft-grace-period``;
- each met threshold puts its node condition (MemoryPressure, DiskPressure,
  PIDPressure) up; a condition goes down only after no threshold of it was
  met for ``--eviction-pressure-transition-period`` (default 5m), so a node
  does not flap;
- while a threshold is met, one pod is evicted per round, ranked as upstream
  ranks them for that resource: pods whose usage exceeds their requests
  first, then lower priority, then larger usage above requests.  Critical
  pods (static, mirror, priority ≥ 2000000000) are never evicted.  Hard
  evictions stop the pod at once (1 s grace), soft ones within
  ``--eviction-max-pod-grace-period``.  The pod becomes Failed with reason
  ``Evicted`` and upstream's message ("The node was low on resource: ...").

While MemoryPressure is up no new BestEffort pod is admitted; under any
other pressure no pod at all (:meth:`EvictionManager.admit`).

:func:`thresholds_met`, :func:`rank` and :func:`eviction_message` are pure;
the manager keeps the clocks and calls the kubelet back to evict.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.kubelet.admission import ADMIT, AdmitResult
from kubeling.kubelet.runtime import RuntimeFailure
from kubeling.scheduler.resources import pod_requests

log = logging.getLogger(__name__)
Obj = dict[str, Any]

MEMORY_AVAILABLE = "memory.available"
NODEFS_AVAILABLE = "nodefs.available"
NODEFS_INODES_FREE = "nodefs.inodesFree"
IMAGEFS_AVAILABLE = "imagefs.available"
IMAGEFS_INODES_FREE = "imagefs.inodesFree"
PID_AVAILABLE = "pid.available"
SIGNAL_CONDITION = {
    MEMORY_AVAILABLE: "MemoryPressure",
    NODEFS_AVAILABLE: "DiskPressure",
    NODEFS_INODES_FREE: "DiskPressure",
    IMAGEFS_AVAILABLE: "DiskPressure",
    IMAGEFS_INODES_FREE: "DiskPressure",
    PID_AVAILABLE: "PIDPressure",
}
SIGNAL_RESOURCE = {
    MEMORY_AVAILABLE: "memory",
    NODEFS_AVAILABLE: "ephemeral-storage",
    NODEFS_INODES_FREE: "inodes",
    IMAGEFS_AVAILABLE: "ephemeral-storage",
    IMAGEFS_INODES_FREE: "inodes",
    PID_AVAILABLE: "pids",
}
DEFAULT_EVICTION_HARD = {
    MEMORY_AVAILABLE: "100Mi",
    NODEFS_AVAILABLE: "10%",
    IMAGEFS_AVAILABLE: "15%",
    NODEFS_INODES_FREE: "5%",
}
REASON = "Evicted"
CRITICAL_PRIORITY = 2_000_000_000
HARD_EVICTION_GRACE = 1  # upstream's immediateEvictionGracePeriodSeconds
DEFAULT_TRANSITION_PERIOD = 300.0
MONITORING_INTERVAL = 10.0


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True)
class Threshold:
    signal: str
    quantity: str = ""  # "100Mi" (as given, for messages), or
    percentage: float = 0.0  # a fraction of the capacity
    grace_period: float = 0.0  # soft thresholds only
    hard: bool = True

    def minimum(self, capacity: int) -> Decimal:
        """The available amount below which the threshold is met."""
        if self.quantity:
            return parse_quantity(self.quantity)
        return Decimal(capacity) * Decimal(str(self.percentage))

    def describe(self, capacity: int) -> str:
        return self.quantity or binary_si(int(self.minimum(capacity)))


def _threshold(signal: str, value: str, *, hard: bool) -> Threshold:
    signal, value = signal.strip(), str(value).strip()
    if signal not in SIGNAL_CONDITION:
        raise ThresholdError(f"unknown eviction signal {signal!r} (known: {', '.join(SIGNAL_CONDITION)})")
    if value.endswith("%"):
        try:
            percentage = float(value[:-1]) / 100
        except ValueError:
            raise ThresholdError(f"invalid eviction threshold {signal}<{value}") from None
        if not 0 < percentage <= 1:
            raise ThresholdError(f"eviction threshold {signal}<{value}: percentage must be in (0%, 100%]")
        return Threshold(signal, percentage=percentage, hard=hard)
    try:
        if parse_quantity(value) < 0:
            raise ThresholdError(f"eviction threshold {signal}<{value} must not be negative")
    except QuantityError:
        raise ThresholdError(f"invalid eviction threshold {signal}<{value}: not a quantity") from None
    return Threshold(signal, quantity=value, hard=hard)


def parse_signal_map(value: str) -> dict[str, str]:
    """``memory.available<100Mi,nodefs.available<10%`` (the flags' form) → {signal: value}."""
    out: dict[str, str] = {}
    for item in filter(None, (v.strip() for v in value.split(","))):
        signal, sep, amount = item.partition("<")
        if not sep or not signal or not amount:
            raise ThresholdError(
                f"invalid eviction threshold {item!r}: want signal<quantity, e.g. memory.available<100Mi"
            )
        out[signal.strip()] = amount.strip()
    return out


def parse_grace_map(value: str) -> dict[str, str]:
    """``memory.available=1m30s,...`` (--eviction-soft-grace-period) → {signal: duration}."""
    out: dict[str, str] = {}
    for item in filter(None, (v.strip() for v in value.split(","))):
        signal, sep, amount = item.partition("=")
        if not sep or not signal or not amount:
            raise ThresholdError(
                f"invalid grace period {item!r}: want signal=duration, e.g. memory.available=1m"
            )
        out[signal.strip()] = amount.strip()
    return out


def build_thresholds(
    hard: dict[str, str] | None, soft: dict[str, str] | None, soft_grace: dict[str, float] | None
) -> list[Threshold]:
    """Hard (upstream's defaults when None), then soft thresholds, each soft one with its grace period."""
    out = [_threshold(s, v, hard=True) for s, v in (DEFAULT_EVICTION_HARD if hard is None else hard).items()]
    grace = soft_grace or {}
    for signal, value in (soft or {}).items():
        if signal not in grace:
            raise ThresholdError(
                f"eviction soft threshold {signal} needs a grace period (--eviction-soft-grace-period)"
            )
        base = _threshold(signal, value, hard=False)
        out.append(Threshold(base.signal, base.quantity, base.percentage, float(grace[signal]), hard=False))
    for signal in grace:
        if signal not in (soft or {}):
            raise ThresholdError(f"grace period for {signal} without a soft threshold (--eviction-soft)")
    return out


@dataclass
class Observation:
    available: int
    capacity: int


Observations = dict[str, Observation]


def observe(root_dir: str, image_dir: str) -> Observations:
    """Measure every signal on this machine now."""
    meminfo: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            meminfo[key] = int(rest.split()[0]) * 1024
    out = {MEMORY_AVAILABLE: Observation(meminfo.get("MemAvailable", 0), meminfo.get("MemTotal", 0))}
    for prefix, path in (("nodefs", root_dir), ("imagefs", image_dir)):
        while path and not os.path.isdir(path):
            path = os.path.dirname(path.rstrip("/")) or "/"
        st = os.statvfs(path or "/")
        out[f"{prefix}.available"] = Observation(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)
        out[f"{prefix}.inodesFree"] = Observation(st.f_favail, st.f_files)
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read().strip())
    running = sum(1 for name in os.listdir("/proc") if name.isdigit())
    out[PID_AVAILABLE] = Observation(pid_max - running, pid_max)
    return out


def thresholds_met(thresholds: list[Threshold], observations: Observations) -> list[Threshold]:
    met = []
    for threshold in thresholds:
        seen = observations.get(threshold.signal)
        if seen is not None and Decimal(seen.available) < threshold.minimum(seen.capacity):
            met.append(threshold)
    return met


def binary_si(value: int) -> str:
    """A byte count as Kubernetes prints a binary quantity ("100Mi", "1953124Ki", "1000")."""
    for suffix, power in (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)):
        if value and value % (1 << power) == 0:
            return f"{value >> power}{suffix}"
    return str(value)


# -- ranking --------------------------------------------------------------------------------

PodUsage = dict[str, int]  # container name -> usage of the resource being reclaimed (bytes)


def priority(pod: Obj) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


def is_critical(pod: Obj, *, static: bool) -> bool:
    return static or priority(pod) >= CRITICAL_PRIORITY


def _request(pod: Obj, resource: str) -> int:
    requests = pod_requests(pod)
    return (
        requests.memory
        if resource == "memory"
        else requests.ephemeral
        if resource == "ephemeral-storage"
        else 0
    )


def rank(pods: list[Obj], usage: dict[str, PodUsage], resource: str) -> list[Obj]:
    """Upstream's order: usage above requests first, then lower priority, then more usage above requests."""

    def key(pod: Obj) -> tuple[int, int, int]:
        used = sum(usage.get(pod["metadata"]["uid"], {}).values())
        above = used - _request(pod, resource)
        return (0 if above > 0 else 1, priority(pod), -above)

    return sorted(pods, key=key)


def eviction_message(pod: Obj, usage: PodUsage, threshold: Threshold, seen: Observation | None) -> str:
    """The words upstream uses, e.g. "The node was low on resource: memory. Threshold quantity: ..."."""
    resource = SIGNAL_RESOURCE[threshold.signal]
    message = f"The node was low on resource: {resource}. "
    if seen is not None:
        available = (
            binary_si(seen.available)
            if "inodes" not in resource and resource != "pids"
            else str(seen.available)
        )
        message += f"Threshold quantity: {threshold.describe(seen.capacity)}, available: {available}. "
    if resource in ("memory", "ephemeral-storage"):
        for container in (pod.get("spec") or {}).get("containers") or []:
            used = usage.get(container["name"])
            if used is None:
                continue
            request = ((container.get("resources") or {}).get("requests") or {}).get(resource, "0")
            if Decimal(used) > parse_quantity(request):
                message += (
                    f"Container {container['name']} was using {binary_si(used)}, request is {request}, "
                    f"has larger consumption of {resource}. "
                )
    return message


# -- the manager ----------------------------------------------------------------------------


@dataclass
class EvictionConfig:
    hard: dict[str, str] | None = None  # None: upstream's defaults
    soft: dict[str, str] = field(default_factory=dict)
    soft_grace_period: dict[str, float] = field(default_factory=dict)
    pressure_transition_period: float = DEFAULT_TRANSITION_PERIOD
    max_pod_grace_period: int = 0

    def thresholds(self) -> list[Threshold]:
        return build_thresholds(self.hard, self.soft, self.soft_grace_period)


def config_of(kubelet: Any) -> EvictionConfig:
    """The eviction settings of a KubeletConfig."""
    return EvictionConfig(
        hard=kubelet.eviction_hard,
        soft=dict(kubelet.eviction_soft),
        soft_grace_period=dict(kubelet.eviction_soft_grace_period),
        pressure_transition_period=kubelet.eviction_pressure_transition_period,
        max_pod_grace_period=kubelet.eviction_max_pod_grace_period,
    )


class EvictionManager:
    def __init__(
        self,
        config: EvictionConfig,
        *,
        measure: Callable[[], Observations],
        active_pods: Callable[[], list[Obj]],
        usage: Callable[[str], Awaitable[dict[str, PodUsage]]],
        evict: Callable[[Obj, str, int], Awaitable[None]],
        is_static: Callable[[Obj], bool],
        clock: Callable[[], float],
        interval: float = MONITORING_INTERVAL,
    ) -> None:
        self.config = config
        self.thresholds = config.thresholds()
        self.measure = measure  # blocking: run in a thread
        self.active_pods = active_pods
        self.usage = usage  # resource -> {pod uid: {container: bytes}}
        self.evict = evict  # (pod, message, grace seconds): mark Failed/Evicted and stop it
        self.is_static = is_static
        self.clock = clock
        self.interval = interval
        self.conditions: set[str] = set()
        self._first_met: dict[Threshold, float] = {}  # soft thresholds: since when met
        self._condition_seen: dict[str, float] = {}  # condition -> last time a threshold of it was met

    def admit(self, pod: Obj) -> AdmitResult:
        """No BestEffort pod under memory pressure, no pod under any other pressure (critical ones aside)."""
        if not self.conditions or is_critical(pod, static=self.is_static(pod)):
            return ADMIT
        from kubeling.apiserver.strategies import qos_class

        if self.conditions == {"MemoryPressure"} and qos_class(pod.get("spec") or {}) != "BestEffort":
            return ADMIT
        return AdmitResult(False, REASON, f"The node had condition: [{', '.join(sorted(self.conditions))}]. ")

    def _met_now(self, observations: Observations, now: float) -> list[Threshold]:
        """Thresholds met now, soft ones only past their grace period."""
        met = set(thresholds_met(self.thresholds, observations))
        for threshold in self.thresholds:
            if not threshold.hard and threshold not in met:
                self._first_met.pop(threshold, None)
        out = []
        for threshold in self.thresholds:
            if threshold not in met:
                continue
            if threshold.hard:
                out.append(threshold)
                continue
            since = self._first_met.setdefault(threshold, now)
            if now - since >= threshold.grace_period:
                out.append(threshold)
        return out

    async def synchronize(self) -> Obj | None:
        """One round: observe, update the conditions, evict at most one pod; the evicted pod or None."""
        observations = await asyncio.to_thread(self.measure)
        now = self.clock()
        met = self._met_now(observations, now)
        for threshold in met:
            self._condition_seen[SIGNAL_CONDITION[threshold.signal]] = now
        self.conditions = {
            condition
            for condition, seen in self._condition_seen.items()
            if now - seen < self.config.pressure_transition_period
            or condition in {SIGNAL_CONDITION[t.signal] for t in met}
        }
        if not met:
            return None
        threshold = min(met, key=lambda t: (not t.hard, list(SIGNAL_CONDITION).index(t.signal)))
        resource = SIGNAL_RESOURCE[threshold.signal]
        candidates = [p for p in self.active_pods() if not is_critical(p, static=self.is_static(p))]
        if not candidates:
            log.warning("eviction threshold %s met, but no pod may be evicted", threshold.signal)
            return None
        usage = await self.usage(resource)
        victim = rank(candidates, usage, resource)[0]
        message = eviction_message(
            victim, usage.get(victim["metadata"]["uid"], {}), threshold, observations.get(threshold.signal)
        )
        grace = HARD_EVICTION_GRACE
        if not threshold.hard:
            own = int((victim.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
            grace = (
                min(own, self.config.max_pod_grace_period) if self.config.max_pod_grace_period > 0 else own
            )
        log.info(
            "evicting pod %s/%s: %s", victim["metadata"].get("namespace"), victim["metadata"]["name"], message
        )
        await self.evict(victim, message, grace)
        return victim

    async def run(self) -> None:
        while True:
            try:
                await self.synchronize()
            except (OSError, ValueError, RuntimeFailure, StatusError) as exc:  # transient: next round
                log.warning("eviction manager round failed: %s", exc)
            await asyncio.sleep(self.interval)


def evicted_status(pod: Obj, message: str) -> Obj:
    """Failed/Evicted with upstream's DisruptionTarget condition (TerminationByKubelet)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = pod.get("status") or {}
    conditions = [c for c in old.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    conditions.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "TerminationByKubelet",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
    )
    return {"phase": "Failed", "reason": REASON, "message": message, "conditions": conditions}
