"""Helpers shared by the admission plugins.

- :func:`forbidden` wraps a plugin's reason the way upstream's
  ``admission.NewForbidden`` does: ``pods "web" is forbidden: <reason>``.
- :func:`aggregate` joins several reasons like upstream's error aggregate
  (one reason alone, else ``[a, b]``, duplicates dropped).
- Resource lists (``{"cpu": "100m"}``) become ``dict[str, Decimal]`` so sums
  and comparisons are exact; :func:`format_quantity` prints them back in the
  canonical form a Go ``resource.Quantity`` would print.
- :func:`pod_requests` / :func:`pod_limits` add up a pod's effective
  requests and limits (containers, init containers, sidecars, pod-level
  resources, overhead) for LimitRanger's Pod limits and for quota.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

from kubeling.api import errors
from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.apiserver.admission.interface import Attributes

ResourceList = dict[str, Decimal]


def forbidden(attrs: Attributes, reason: str, causes: list[errors.Cause] | None = None) -> errors.StatusError:
    """A 403 naming the request's resource and object, like admission.NewForbidden."""
    qualified = attrs.resource.qualified
    if attrs.name:
        message = f'{qualified} "{attrs.name}" is forbidden: {reason}'
    else:
        message = f"{qualified} is forbidden: {reason}"
    details: dict[str, Any] = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.resource.group:
        details["group"] = attrs.resource.group
    details["kind"] = attrs.resource.plural
    if causes:
        details["causes"] = [c.to_dict() for c in causes]
    return errors.StatusError(403, "Forbidden", message, details)


def aggregate(messages: list[str]) -> str:
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


# -- quantities -------------------------------------------------------------------

_BINARY = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))
_DECIMAL = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3))
_FRACTION = (("m", 3), ("u", 6), ("n", 9))


def quantity(value: Any) -> Decimal | None:
    """A quantity's value, or None when it doesn't parse (validation reports that)."""
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def resource_list(value: Any) -> ResourceList:
    if not isinstance(value, dict):
        return {}
    out: ResourceList = {}
    for name, raw in value.items():
        parsed = quantity(raw)
        if parsed is not None:
            out[str(name)] = parsed
    return out


def _bytes_like(resource_name: str) -> bool:
    return any(part in resource_name for part in ("memory", "storage", "hugepages-"))


def _decimal_integer(n: int) -> str:
    if n == 0:
        return "0"
    for suffix, exponent in _DECIMAL:
        scale = 10**exponent
        if n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def _binary_integer(n: int) -> str | None:
    for suffix, exponent in _BINARY:
        scale = 1 << exponent
        if n and n % scale == 0:
            return f"{n // scale}{suffix}"
    return None


def format_quantity(value: Decimal, resource_name: str = "") -> str:
    """Canonical text of a quantity: ``500m``, ``2``, ``128Mi``, ``1G``.

    Go keeps the format (binary or decimal SI) a quantity was written in; a
    sum has lost it, so byte-like resources take whichever suffix is shorter
    (binary on a tie) and everything else takes decimal suffixes.  Fractions
    use m, u or n, rounding up to nano units as Go does.
    """
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == value.to_integral_value():
        n = int(value)
        text = _decimal_integer(n)
        if _bytes_like(resource_name):
            binary = _binary_integer(n)
            if binary is not None and len(binary) <= len(text):
                text = binary
        return sign + text
    for suffix, exponent in _FRACTION:
        scaled = value.scaleb(exponent)
        if scaled == scaled.to_integral_value():
            return f"{sign}{int(scaled)}{suffix}"
    return f"{sign}{int(value.scaleb(9).to_integral_value(ROUND_CEILING))}n"


def milli(value: Decimal) -> int:
    """Go's MilliValue: the value in thousandths, rounded up."""
    return int(value.scaleb(3).to_integral_value(ROUND_CEILING))


def add(into: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        into[name] = into.get(name, Decimal(0)) + value


def take_max(into: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        if name not in into or value > into[name]:
            into[name] = value


def pretty(resources: ResourceList) -> str:
    """``cpu=500m,pods=1``: sorted ``name=quantity`` pairs, as upstream prints them."""
    return ",".join(f"{name}={format_quantity(resources[name], name)}" for name in sorted(resources))


# -- pod resources ----------------------------------------------------------------

_POD_LEVEL = ("cpu", "memory")


def _containers(spec: dict, key: str) -> list[dict]:
    return [c for c in spec.get(key) or [] if isinstance(c, dict)]


def container_resources(container: dict, kind: str) -> ResourceList:
    return resource_list((container.get("resources") or {}).get(kind))


def _aggregate(spec: dict, kind: str) -> ResourceList:
    """Sum of app containers and sidecars, at least the largest init step."""
    total: ResourceList = {}
    for container in _containers(spec, "containers"):
        add(total, container_resources(container, kind))
    sidecars: ResourceList = {}
    init_peak: ResourceList = {}
    for container in _containers(spec, "initContainers"):
        own = container_resources(container, kind)
        if container.get("restartPolicy") == "Always":
            # A sidecar keeps running next to the app containers and later init steps.
            add(total, own)
            add(sidecars, own)
            step = dict(sidecars)
        else:
            step = dict(own)
            add(step, sidecars)
        take_max(init_peak, step)
    take_max(total, init_peak)
    return total


def pod_requests(spec: dict, *, overhead: bool = True) -> ResourceList:
    requests = _aggregate(spec, "requests")
    pod_level = resource_list((spec.get("resources") or {}).get("requests"))
    for name, value in pod_level.items():
        if name in _POD_LEVEL or name.startswith("hugepages-"):
            requests[name] = value
    if overhead:
        add(requests, resource_list(spec.get("overhead")))
    return requests


def pod_limits(spec: dict, *, overhead: bool = True) -> ResourceList:
    limits = _aggregate(spec, "limits")
    pod_level = resource_list((spec.get("resources") or {}).get("limits"))
    for name, value in pod_level.items():
        if name in _POD_LEVEL or name.startswith("hugepages-"):
            limits[name] = value
    if overhead:
        # Overhead only raises limits that are set: an unset limit stays unbounded.
        for name, value in resource_list(spec.get("overhead")).items():
            if name in limits:
                limits[name] += value
    return limits
