"""Pod admission: the checks the kubelet makes before it starts a pod's first container.

A pod can reach this node without the scheduler (``spec.nodeName`` set by
its author, static pods), or the node can have changed since the scheduler
looked.  So, as upstream's predicate admit handler does, the kubelet runs
the scheduler's general predicates once per pod against the pods it has
already admitted, in this order, and reports the first failure:

- resources: ``pods`` (``--max-pods``), cpu, memory, ephemeral-storage and
  extended resources requested beyond the node's allocatable → reason
  ``OutOf<resource>``, message "Node didn't have enough resource: ...";
- ``NodeAffinity`` (nodeSelector and required node affinity), ``NodeName``,
  ``NodePorts`` (a hostPort another admitted pod holds) → reason the
  predicate's name, message "Predicate <name> failed: <why>";
- ``TaintToleration``: only NoExecute taints, and never for static pods.

Further handlers (the eviction manager's "no BestEffort pods under memory
pressure") are plain callables returning an :class:`AdmitResult`.

A rejected pod never runs: the caller writes phase Failed with the reason and
"Pod was rejected: <message>", and a Warning event with the same reason.
:func:`admit` is pure; :class:`Admitter` remembers which pods were admitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubeling.api.scheduling import first_untolerated, required_node_affinity_matches
from kubeling.scheduler.plugins import nodeaffinity, nodename, nodeports
from kubeling.scheduler.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resource, pod_requests

Obj = dict[str, Any]
TAINT_TOLERATION = "TaintToleration"
TAINT_REASON = "node(s) had taints that the pod didn't tolerate"
REJECTED_PREFIX = "Pod was rejected: "
ANY_IP = "0.0.0.0"


@dataclass(frozen=True)
class AdmitResult:
    admit: bool
    reason: str = ""
    message: str = ""


ADMIT = AdmitResult(True)
AdmitHandler = Callable[[Obj], AdmitResult]


def _insufficient(name: str, requested: int, used: int, capacity: int) -> AdmitResult:
    message = (
        f"Node didn't have enough resource: {name}, "
        f"requested: {requested}, used: {used}, capacity: {capacity}"
    )
    return AdmitResult(False, f"OutOf{name}", message)


def _predicate(name: str, why: str) -> AdmitResult:
    return AdmitResult(False, name, f"Predicate {name} failed: {why}")


def resource_fit(pod: Obj, allocatable: Resource, others: Iterable[Obj]) -> AdmitResult:
    """upstream's Fits: the pod count first, then each requested resource against what is left."""
    others = list(others)
    if len(others) + 1 > allocatable.pods:
        return _insufficient(PODS, 1, len(others), allocatable.pods)
    want = pod_requests(pod)
    used = Resource()
    for other in others:
        used.add(pod_requests(other))
    for name, asked, taken, offered in (
        (CPU, want.milli_cpu, used.milli_cpu, allocatable.milli_cpu),
        (MEMORY, want.memory, used.memory, allocatable.memory),
        (EPHEMERAL_STORAGE, want.ephemeral, used.ephemeral, allocatable.ephemeral),
    ):
        if asked and offered < asked + taken:
            return _insufficient(name, asked, taken, offered)
    for name, asked in want.scalars.items():
        offered = allocatable.scalars.get(name)
        if offered is None:  # unknown to this node: a cluster-level resource, not the kubelet's to judge
            continue
        if asked and offered < asked + used.scalars.get(name, 0):
            return _insufficient(name, asked, used.scalars.get(name, 0), offered)
    return ADMIT


def host_ports(pod: Obj) -> set[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port that claims a host port."""
    spec = pod.get("spec") or {}
    return {
        (port.get("hostIP") or ANY_IP, port.get("protocol") or "TCP", int(port["hostPort"]))
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or [])
        for port in container.get("ports") or []
        if port.get("hostPort")
    }


def ports_conflict(pod: Obj, others: Iterable[Obj]) -> bool:
    used: dict[tuple[str, int], set[str]] = {}
    for other in others:
        for ip, protocol, port in host_ports(other):
            used.setdefault((protocol, port), set()).add(ip)
    for ip, protocol, port in host_ports(pod):
        taken = used.get((protocol, port))
        if taken and (ip == ANY_IP or ANY_IP in taken or ip in taken):
            return True
    return False


def admit(pod: Obj, node: Obj, others: Iterable[Obj], *, static: bool = False) -> AdmitResult:
    """Whether ``pod`` may start on ``node`` next to the admitted ``others`` (see the module docstring)."""
    others = list(others)
    allocatable = Resource.from_list((node.get("status") or {}).get("allocatable") or {})
    fit = resource_fit(pod, allocatable, others)
    if not fit.admit:
        return fit
    meta = node.get("metadata") or {}
    name, labels = meta.get("name", ""), meta.get("labels") or {}
    if not required_node_affinity_matches(pod, name, labels):
        return _predicate(nodeaffinity.NAME, nodeaffinity.REASON)
    wanted = (pod.get("spec") or {}).get("nodeName")
    if wanted and wanted != name:
        return _predicate(nodename.NAME, nodename.REASON)
    if ports_conflict(pod, others):
        return _predicate(nodeports.NAME, nodeports.REASON)
    if not static:
        taints = (node.get("spec") or {}).get("taints") or []
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        if first_untolerated(taints, tolerations, ("NoExecute",)) is not None:
            return _predicate(TAINT_TOLERATION, TAINT_REASON)
    return ADMIT


class Admitter:
    """Admits each pod once, against the pods admitted before it that are still active."""

    def __init__(
        self,
        *,
        node: Callable[[], Obj | None],
        pod: Callable[[str], Obj | None],
        is_static: Callable[[Obj], bool],
        handlers: Iterable[AdmitHandler] = (),
    ) -> None:
        self.node = node  # the Node as last seen
        self.pod = pod  # a uid's pod as the kubelet runs it, None once gone
        self.is_static = is_static
        self.handlers = list(handlers)
        self.admitted: set[str] = set()

    def active(self, excluding: str = "") -> list[Obj]:
        """Admitted pods still present and not finished (finished ones free their resources)."""
        out = []
        for uid in list(self.admitted):
            pod = self.pod(uid)
            if pod is None:
                self.admitted.discard(uid)
                continue
            if uid != excluding and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                out.append(pod)
        return out

    def decide(self, pod: Obj) -> AdmitResult:
        """The verdict for a pod not admitted yet; an admitted pod counts against the next ones at once."""
        uid = pod["metadata"]["uid"]
        if uid in self.admitted:
            return ADMIT
        node = self.node()
        if node is None:
            return AdmitResult(False, "InvalidNodeInfo", "Kubelet cannot get node info.")
        result = admit(pod, node, self.active(excluding=uid), static=self.is_static(pod))
        for handler in self.handlers:
            if not result.admit:
                break
            result = handler(pod)
        if result.admit:
            self.admitted.add(uid)
        return result

    def adopt(self, uid: str) -> None:
        """A pod already running here (a restarted kubelet): admitted without checks."""
        self.admitted.add(uid)


def rejected_status(pod: Obj, result: AdmitResult) -> Obj:
    """The status a rejected pod gets (phase Failed, the reason, the message upstream words)."""
    from kubeling.apiserver.strategies import qos_class

    old = pod.get("status") or {}
    return {
        "phase": "Failed",
        "reason": result.reason,
        "message": REJECTED_PREFIX + result.message,
        "qosClass": old.get("qosClass") or qos_class(pod.get("spec") or {}),
    }
