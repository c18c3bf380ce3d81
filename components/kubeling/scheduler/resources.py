"""Resource arithmetic for scheduling: what a pod requests and what a node offers.

Quantities become integers once, as upstream's ``framework.Resource`` holds
them: CPU in millicores (rounded up), everything else in whole units (rounded
up).  A pod's request follows upstream's ``PodRequests``:

- regular containers add up;
- restartable init containers (sidecars, ``restartPolicy: Always``) run
  alongside them, so they add up too;
- every other init container runs alone (next to the sidecars started before
  it), so only the largest such moment counts: the pod needs
  ``max(sum of containers + sidecars, max init moment)`` per resource;
- ``spec.overhead`` is added on top.

Scoring uses "non-zero" requests: a container that asks for no CPU or memory
counts as 100m / 200Mi, so empty pods do not all pile onto one node.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from kubeling.api.validation.common import QuantityError, parse_quantity

Obj = dict[str, Any]

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL_STORAGE = "ephemeral-storage"
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
_NATIVE = (CPU, MEMORY, PODS, EPHEMERAL_STORAGE)

# Quantity strings repeat endlessly (every replica asks for "100m"): parse each once.
_parsed: dict[tuple[str, Any], int] = {}


def quantity_value(name: str, value: Any) -> int:
    """The integer a scheduler compares: millicores for cpu, units (rounded up) otherwise."""
    key = (name, value)
    cached = _parsed.get(key)
    if cached is not None:
        return cached
    try:
        number = parse_quantity(value)
    except QuantityError:
        number = Decimal(0)
    scaled = number * 1000 if name == CPU else number
    result = math.ceil(scaled)
    if len(_parsed) < 65536:
        _parsed[key] = result
    return result


def is_scalar(name: str) -> bool:
    """Extended resources (``vendor/thing``), hugepages and attachable volumes are scalar resources."""
    return name not in _NATIVE and ("/" in name or name.startswith("hugepages-"))


class Resource:
    """A set of quantities: the four native ones as fields, extended ones in ``scalars``."""

    __slots__ = ("ephemeral", "memory", "milli_cpu", "pods", "scalars")

    def __init__(
        self,
        milli_cpu: int = 0,
        memory: int = 0,
        ephemeral: int = 0,
        pods: int = 0,
        scalars: dict[str, int] | None = None,
    ) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral = ephemeral
        self.pods = pods
        self.scalars = scalars or {}

    @classmethod
    def from_list(cls, resources: Obj | None) -> Resource:
        result = cls()
        for name, value in (resources or {}).items():
            result.add_one(name, quantity_value(name, value))
        return result

    def add_one(self, name: str, value: int) -> None:
        if name == CPU:
            self.milli_cpu += value
        elif name == MEMORY:
            self.memory += value
        elif name == EPHEMERAL_STORAGE:
            self.ephemeral += value
        elif name == PODS:
            self.pods += value
        elif is_scalar(name):
            self.scalars[name] = self.scalars.get(name, 0) + value

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral += sign * other.ephemeral
        self.pods += sign * other.pods
        for name, value in other.scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) + sign * value

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral = max(self.ephemeral, other.ephemeral)
        self.pods = max(self.pods, other.pods)
        for name, value in other.scalars.items():
            self.scalars[name] = max(self.scalars.get(name, 0), value)

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral, self.pods, dict(self.scalars))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return (self.milli_cpu, self.memory, self.ephemeral, self.pods, self.scalars) == (
            other.milli_cpu,
            other.memory,
            other.ephemeral,
            other.pods,
            other.scalars,
        )

    def __repr__(self) -> str:
        return (
            f"Resource(milli_cpu={self.milli_cpu}, memory={self.memory}, ephemeral={self.ephemeral}, "
            f"pods={self.pods}, scalars={self.scalars})"
        )


def _container_requests(container: Obj, non_zero: bool) -> Resource:
    requests = (container.get("resources") or {}).get("requests") or {}
    result = Resource.from_list(requests)
    if non_zero:
        if CPU not in requests:
            result.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if MEMORY not in requests:
            result.memory = DEFAULT_MEMORY_REQUEST
    return result


def pod_requests(pod: Obj, *, non_zero: bool = False) -> Resource:
    """What the pod needs from a node (see the module docstring for the arithmetic)."""
    spec = pod.get("spec") or {}
    total = Resource()
    for container in spec.get("containers") or []:
        total.add(_container_requests(container, non_zero))
    sidecars = Resource()
    init_peak = Resource()
    for container in spec.get("initContainers") or []:
        requests = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":
            total.add(requests)
            sidecars.add(requests)
            moment = sidecars.clone()
        else:
            moment = requests.clone()
            moment.add(sidecars)
        init_peak.set_max(moment)
    total.set_max(init_peak)
    overhead = spec.get("overhead")
    if overhead:
        total.add(Resource.from_list(overhead))
    return total
