"""The scheduling framework's vocabulary: statuses, pod and node infos, plugin protocols.

A scheduling cycle runs each enabled plugin at its extension points:

- ``pre_filter(state, pod)`` once per cycle: precompute, or return a
  ``Skip`` status when the pod has nothing for this plugin (its ``filter``
  then never runs: that is where the speed comes from), or reject the pod
  outright;
- ``filter(state, pod, node)`` per node: ``None`` means the node fits, a
  :class:`Status` says why not (its reasons feed the FailedScheduling
  message);
- ``pre_score(state, pod, nodes)`` / ``score(state, pod, node)`` /
  ``normalize(state, pod, scores)`` rank the feasible nodes; ``pre_score``
  may Skip too.

Plugins keep per-cycle data in the :class:`CycleState` under their own key.
``None`` stands for Success everywhere, so the hot path allocates nothing.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from typing import Any, Protocol

from kubeling.api.errors import StatusError
from kubeling.api.selectors import NOTHING, LabelSelector, label_selector_from_dict
from kubeling.scheduler.resources import Resource, pod_requests, quantity_value

Obj = dict[str, Any]
MAX_NODE_SCORE = 100
# One counter for every NodeInfo (clones too), so a generation names exactly one state of one node.
_generations = itertools.count(1)


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 4


class Status:
    __slots__ = ("code", "plugin", "reasons")

    def __init__(self, code: Code, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons = list(reasons)
        self.plugin = plugin

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {self.reasons!r}, plugin={self.plugin!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return (self.code, self.reasons) == (other.code, other.reasons)


SKIP = Status(Code.SKIP)


def selector_of(raw: Any) -> LabelSelector:
    """A selector from its API form; an unparsable one (apiserver let it through) selects nothing."""
    try:
        return label_selector_from_dict(raw)
    except StatusError:
        return NOTHING


class CycleState(dict[str, Any]):
    """Per-cycle plugin data, keyed by plugin; cloned for preemption dry runs.

    Values with a ``clone()`` method (state that PreFilter extensions change)
    are copied; everything else is shared, being read-only after PreFilter.
    """

    def clone(self) -> CycleState:
        return CycleState({k: v.clone() if hasattr(v, "clone") else v for k, v in self.items()})


class AffinityTerm:
    """A pod (anti-)affinity term with its namespaces and selectors parsed once."""

    __slots__ = ("namespace_selector", "namespaces", "selector", "topology_key", "weight")

    def __init__(self, pod: Obj, term: Obj, weight: int = 0) -> None:
        namespaces = set(term.get("namespaces") or [])
        ns_selector = term.get("namespaceSelector")
        if not namespaces and ns_selector is None:
            namespaces = {(pod.get("metadata") or {}).get("namespace") or "default"}
        self.namespaces = namespaces
        # None selects no namespace by labels (only the listed ones); {} selects all.
        self.namespace_selector: LabelSelector | None = (
            selector_of(ns_selector) if ns_selector is not None else None
        )
        self.selector = selector_of(term.get("labelSelector"))
        self.topology_key = term.get("topologyKey") or ""
        self.weight = weight

    def matches(self, pod: PodInfo, namespace_labels: NamespaceLabels) -> bool:
        """Whether ``pod`` is one of the pods this term selects."""
        if pod.namespace not in self.namespaces:
            if self.namespace_selector is None:
                return False
            if not self.namespace_selector.matches(namespace_labels(pod.namespace)):
                return False
        return self.selector.matches(pod.labels)


class NamespaceLabels(Protocol):
    def __call__(self, namespace: str) -> dict[str, str]: ...


def _terms(pod: Obj, kind: str, when: str) -> list[AffinityTerm]:
    section = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    if when == "required":
        required = section.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        return [AffinityTerm(pod, t) for t in required]
    return [
        AffinityTerm(pod, w.get("podAffinityTerm") or {}, int(w.get("weight") or 0))
        for w in section.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    ]


def host_ports(pod: Obj) -> list[tuple[str, str, int]]:
    """``(hostIP, protocol, hostPort)`` of every container port that claims a host port."""
    ports = []
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            host_port = int(port.get("hostPort") or 0)
            if host_port > 0:
                ports.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", host_port))
    return ports


class PodInfo:
    """A pod with what the scheduler derives from it computed once."""

    __slots__ = (
        "affinity",
        "anti_affinity",
        "key",
        "labels",
        "name",
        "namespace",
        "non0_cpu",
        "non0_mem",
        "pod",
        "ports",
        "preemption_policy",
        "preferred_affinity",
        "preferred_anti_affinity",
        "priority",
        "req_cpu",
        "req_mem",
        "requests",
        "simple_requests",
        "spread_constraints",
        "start_time",
        "uid",
    )

    def __init__(self, pod: Obj, priority: int | None = None, preemption_policy: str | None = None) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod
        self.name = meta.get("name", "")
        self.namespace = meta.get("namespace") or "default"
        self.key = f"{self.namespace}/{self.name}"
        self.uid = meta.get("uid", "")
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.priority = int(spec.get("priority") or 0) if priority is None else priority
        self.preemption_policy = preemption_policy or spec.get("preemptionPolicy") or "PreemptLowerPriority"
        self.requests: Resource = pod_requests(pod)
        # Flat copies for the hot loops; "simple" = only cpu/memory, the common case.
        self.req_cpu = self.requests.milli_cpu
        self.req_mem = self.requests.memory
        self.simple_requests = not self.requests.ephemeral and not self.requests.scalars
        self.spread_constraints: list[Obj] = spec.get("topologySpreadConstraints") or []
        if _has_all_requests(spec):
            self.non0_cpu, self.non0_mem = self.requests.milli_cpu, self.requests.memory
        else:
            non0 = pod_requests(pod, non_zero=True)
            self.non0_cpu, self.non0_mem = non0.milli_cpu, non0.memory
        self.ports = host_ports(pod)
        affinity = spec.get("affinity")
        if affinity and ("podAffinity" in affinity or "podAntiAffinity" in affinity):
            self.affinity = _terms(pod, "podAffinity", "required")
            self.anti_affinity = _terms(pod, "podAntiAffinity", "required")
            self.preferred_affinity = _terms(pod, "podAffinity", "preferred")
            self.preferred_anti_affinity = _terms(pod, "podAntiAffinity", "preferred")
        else:
            self.affinity = self.anti_affinity = self.preferred_affinity = self.preferred_anti_affinity = []
        status = pod.get("status") or {}
        self.start_time = status.get("startTime") or meta.get("creationTimestamp") or ""

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"


def _has_all_requests(spec: Obj) -> bool:
    # Fast path: when every container asks for cpu and memory, non-zero requests equal the real ones.
    for group in ("containers", "initContainers"):
        for container in spec.get(group) or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            if "cpu" not in requests or "memory" not in requests:
                return False
    return True


class NodeInfo:
    """One node as the scheduler sees it: the Node plus the pods on it (bound or assumed)."""

    __slots__ = (
        "alloc_cpu",
        "alloc_mem",
        "allocatable",
        "free_cpu",
        "free_mem",
        "free_pods",
        "generation",
        "image_sizes",
        "labels",
        "name",
        "node",
        "non0_cpu",
        "non0_mem",
        "pods",
        "pods_with_affinity",
        "pods_with_required_anti_affinity",
        "prefer_no_schedule_taints",
        "requested",
        "taints",
        "unschedulable",
        "used_ports",
    )

    def __init__(self, node: Obj | None = None, name: str = "") -> None:
        self.name = name
        self.node: Obj | None = None
        self.labels: dict[str, str] = {}
        self.taints: list[Obj] = []
        self.prefer_no_schedule_taints = False
        self.unschedulable = False
        self.allocatable = Resource()
        self.image_sizes: dict[str, int] = {}
        self.requested = Resource()
        self.non0_cpu = 0
        self.non0_mem = 0
        self.pods: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.used_ports: dict[tuple[str, int], set[str]] = {}
        self.generation = 0
        self.alloc_cpu = self.alloc_mem = 0
        self.free_cpu = self.free_mem = self.free_pods = 0
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj) -> None:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.node = node
        self.name = meta.get("name", self.name)
        self.labels = meta.get("labels") or {}
        self.taints = spec.get("taints") or []
        self.prefer_no_schedule_taints = any(t.get("effect") == "PreferNoSchedule" for t in self.taints)
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = Resource.from_list(status.get("allocatable") or status.get("capacity"))
        self.image_sizes = {}
        for image in status.get("images") or []:
            for name in image.get("names") or []:
                self.image_sizes[name] = int(image.get("sizeBytes") or 0)
        self._refresh_free()
        self.generation = next(_generations)

    def add_pod(self, info: PodInfo) -> None:
        self.pods[info.key] = info
        if info.affinity or info.anti_affinity or info.preferred_affinity or info.preferred_anti_affinity:
            self.pods_with_affinity[info.key] = info
        if info.anti_affinity:
            self.pods_with_required_anti_affinity[info.key] = info
        self._account(info, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        info = self.pods.pop(key, None)
        if info is None:
            return None
        self.pods_with_affinity.pop(key, None)
        self.pods_with_required_anti_affinity.pop(key, None)
        self._account(info, -1)
        return info

    def _account(self, info: PodInfo, sign: int) -> None:
        self.requested.add(info.requests, sign)
        self.non0_cpu += sign * info.non0_cpu
        self.non0_mem += sign * info.non0_mem
        for ip, protocol, port in info.ports:
            owners = self.used_ports.setdefault((protocol, port), set())
            if sign > 0:
                owners.add(ip)
            else:
                owners.discard(ip)
                if not owners:
                    del self.used_ports[(protocol, port)]
        self._refresh_free()
        self.generation = next(_generations)

    def _refresh_free(self) -> None:
        # What is left, kept flat so the filter and score loops read one attribute per resource.
        self.alloc_cpu = self.allocatable.milli_cpu
        self.alloc_mem = self.allocatable.memory
        self.free_cpu = self.alloc_cpu - self.requested.milli_cpu
        self.free_mem = self.alloc_mem - self.requested.memory
        self.free_pods = self.allocatable.pods - len(self.pods)

    def clone(self) -> NodeInfo:
        """A copy whose pod set can change (preemption dry runs) without touching this one."""
        copy = NodeInfo(name=self.name)
        copy.node = self.node
        copy.labels = self.labels
        copy.taints = self.taints
        copy.prefer_no_schedule_taints = self.prefer_no_schedule_taints
        copy.unschedulable = self.unschedulable
        copy.allocatable = self.allocatable
        copy.image_sizes = self.image_sizes
        copy.requested = self.requested.clone()
        copy.non0_cpu, copy.non0_mem = self.non0_cpu, self.non0_mem
        copy.pods = dict(self.pods)
        copy.pods_with_affinity = dict(self.pods_with_affinity)
        copy.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        copy.used_ports = {k: set(v) for k, v in self.used_ports.items()}
        copy.generation = self.generation
        copy._refresh_free()
        return copy

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"


class ClusterView(Protocol):
    """What plugins may read beyond one node: every node, and namespaces' labels."""

    def node_infos(self) -> Iterable[NodeInfo]: ...

    def get(self, name: str) -> NodeInfo | None: ...

    def namespace_labels(self, namespace: str) -> dict[str, str]: ...

    def count(self, flag: str) -> int:
        """How many nodes have ``flag`` (see :data:`NODE_FLAGS`): lets plugins skip in O(1)."""
        ...


# Per-node facts the cache counts, so a plugin can tell at once that no node needs it.
NODE_FLAGS = (
    "unschedulable",  # spec.unschedulable
    "filter_taints",  # NoSchedule / NoExecute taints
    "prefer_taints",  # PreferNoSchedule taints
    "images",  # status.images reported
    "affinity_pods",  # holds pods with any pod (anti-)affinity
    "anti_affinity_pods",  # holds pods with required anti-affinity
)


def node_flags(node: NodeInfo) -> tuple[bool, ...]:
    if node.node is None:
        return (False,) * len(NODE_FLAGS)
    return (
        node.unschedulable,
        any(t.get("effect") in ("NoSchedule", "NoExecute") for t in node.taints),
        node.prefer_no_schedule_taints,
        bool(node.image_sizes),
        bool(node.pods_with_affinity),
        bool(node.pods_with_required_anti_affinity),
    )


class FilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None: ...

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


class PreFilterExtensions(Protocol):
    """Optional on filter plugins whose PreFilter state counts other pods (upstream's AddPod/RemovePod).

    Preemption's dry runs take pods off a node (and put some back); these
    keep the counted state in step, ``sign`` being +1 (added) or -1 (removed).
    """

    def update_pod(
        self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, sign: int
    ) -> None: ...


class ScorePlugin(Protocol):
    name: str
    weight: int

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None: ...

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None: ...


def default_normalize(scores: list[int], *, reverse: bool) -> None:
    """Scale to 0..MAX_NODE_SCORE by the largest score (reversed: fewer is better), in place."""
    highest = max(scores, default=0)
    if highest == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, value in enumerate(scores):
        scaled = MAX_NODE_SCORE * value // highest
        scores[i] = MAX_NODE_SCORE - scaled if reverse else scaled


def scalar_value(name: str, value: Any) -> int:
    return quantity_value(name, value)
