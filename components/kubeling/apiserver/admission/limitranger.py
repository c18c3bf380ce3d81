"""LimitRanger: namespace-wide defaults and bounds for compute and storage.

Every LimitRange in the request's namespace takes part, in listing order.

- ``admit`` (pods): a ``type: Container`` item's ``defaultRequest`` and
  ``default`` fill the requests and limits a container leaves unset; what
  was filled is recorded in the ``kubernetes.io/limit-ranger`` annotation.
  The item is defaulted first as the API does on write (max → default,
  default → defaultRequest, min → defaultRequest), so a LimitRange stored
  without those defaults behaves the same.
- ``validate``: ``Container`` items bound each container, ``Pod`` items the
  pod's effective totals (min / max / maxLimitRequestRatio), and
  ``PersistentVolumeClaim`` items a claim's requested size (min / max).

Applies to pods on CREATE (and the ``resize`` subresource) and to PVCs on
CREATE and UPDATE, never to objects already being deleted.  Comparisons use
milli-units rounded up, as upstream does, and failures read like upstream's:
``pods "web" is forbidden: minimum cpu usage per Container is 100m, but
request is 50m``.
"""

from __future__ import annotations

from decimal import Decimal

from kubeling.apiserver.admission.common import (
    ResourceList,
    aggregate,
    container_resources,
    forbidden,
    format_quantity,
    milli,
    pod_limits,
    pod_requests,
    resource_list,
)
from kubeling.apiserver.admission.interface import CREATE, UPDATE, Attributes, Lister

ANNOTATION = "kubernetes.io/limit-ranger"
_CONTAINER_KINDS = (("containers", "container"), ("initContainers", "init container"))


def _text(value: Decimal, name: str) -> str:
    return format_quantity(value, name)


def defaulted_item(item: dict) -> dict:
    """A LimitRangeItem with the API's defaults for Container items applied."""
    if item.get("type") != "Container":
        return item
    default = dict(item.get("default") or {})
    for name, value in (item.get("max") or {}).items():
        default.setdefault(name, value)
    request = dict(item.get("defaultRequest") or {})
    for source in (default, item.get("min") or {}):
        for name, value in source.items():
            request.setdefault(name, value)
    return {**item, "default": default, "defaultRequest": request}


def _items(limit_range: dict) -> list[dict]:
    return [
        defaulted_item(i) for i in (limit_range.get("spec") or {}).get("limits") or [] if isinstance(i, dict)
    ]


# -- defaulting -----------------------------------------------------------------


def container_defaults(limit_range: dict) -> tuple[dict, dict]:
    """(requests, limits) that Container items of one LimitRange supply."""
    requests: dict = {}
    limits: dict = {}
    for item in _items(limit_range):
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    return requests, limits


def apply_defaults(pod: dict, requests: dict, limits: dict) -> None:
    notes: list[str] = []
    spec = pod.get("spec") or {}
    for key, label in _CONTAINER_KINDS:
        for container in spec.get(key) or []:
            resources = container.get("resources")
            if not isinstance(resources, dict):
                resources = container["resources"] = {}
            set_requests = _fill(resources, "requests", requests)
            set_limits = _fill(resources, "limits", limits)
            name = container.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for {label} {name}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for {label} {name}")
    if notes:
        metadata = pod.setdefault("metadata", {})
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = {}
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _fill(resources: dict, kind: str, defaults: dict) -> list[str]:
    if not defaults:
        return []
    current = resources.get(kind)
    if not isinstance(current, dict):
        current = {}
    filled = [name for name in defaults if name not in current]
    for name in filled:
        current[name] = defaults[name]
    if filled:
        resources[kind] = current
    return filled


# -- constraints ----------------------------------------------------------------


def _min(kind: str, name: str, enforced: Decimal, requests: ResourceList, limits: ResourceList) -> str | None:
    bound = _text(enforced, name)
    if name not in requests:
        return f"minimum {name} usage per {kind} is {bound}.  No request is specified"
    if milli(requests[name]) < milli(enforced):
        return f"minimum {name} usage per {kind} is {bound}, but request is {_text(requests[name], name)}"
    if name in limits and milli(limits[name]) < milli(enforced):
        return f"minimum {name} usage per {kind} is {bound}, but limit is {_text(limits[name], name)}"
    return None


def _max(kind: str, name: str, enforced: Decimal, requests: ResourceList, limits: ResourceList) -> str | None:
    bound = _text(enforced, name)
    if name not in limits:
        return f"maximum {name} usage per {kind} is {bound}.  No limit is specified"
    if milli(limits[name]) > milli(enforced):
        return f"maximum {name} usage per {kind} is {bound}, but limit is {_text(limits[name], name)}"
    if name in requests and milli(requests[name]) > milli(enforced):
        return f"maximum {name} usage per {kind} is {bound}, but request is {_text(requests[name], name)}"
    return None


def _max_request(kind: str, name: str, enforced: Decimal, requests: ResourceList) -> str | None:
    bound = _text(enforced, name)
    if name not in requests:
        return f"maximum {name} usage per {kind} is {bound}.  No request is specified"
    if milli(requests[name]) > milli(enforced):
        return f"maximum {name} usage per {kind} is {bound}, but request is {_text(requests[name], name)}"
    return None


def _ratio(
    kind: str, name: str, enforced: Decimal, requests: ResourceList, limits: ResourceList
) -> str | None:
    bound = _text(enforced, name)
    request = milli(requests[name]) if name in requests else 0
    limit = milli(limits[name]) if name in limits else 0
    if request == 0:
        return (
            f"{name} max limit to request ratio per {kind} is {bound}, "
            "but no request is specified or request is 0"
        )
    if limit == 0:
        return (
            f"{name} max limit to request ratio per {kind} is {bound}, "
            "but no limit is specified or limit is 0"
        )
    observed = limit / request
    if Decimal(limit) / Decimal(request) > enforced:
        return f"{name} max limit to request ratio per {kind} is {bound}, but provided ratio is {observed:f}"
    return None


def _bounds(item: dict, kind: str, requests: ResourceList, limits: ResourceList) -> list[str]:
    failures: list[str | None] = []
    for name, value in resource_list(item.get("min")).items():
        failures.append(_min(kind, name, value, requests, limits))
    for name, value in resource_list(item.get("max")).items():
        failures.append(_max(kind, name, value, requests, limits))
    for name, value in resource_list(item.get("maxLimitRequestRatio")).items():
        failures.append(_ratio(kind, name, value, requests, limits))
    return [f for f in failures if f]


def pod_violations(limit_range: dict, pod: dict) -> list[str]:
    spec = pod.get("spec") or {}
    failures: list[str] = []
    for item in _items(limit_range):
        kind = item.get("type")
        if kind == "Container":
            for key in ("containers", "initContainers"):
                for container in spec.get(key) or []:
                    failures += _bounds(
                        item,
                        kind,
                        container_resources(container, "requests"),
                        container_resources(container, "limits"),
                    )
        elif kind == "Pod":
            requests = pod_requests(spec, overhead=False)
            limits = pod_limits(spec, overhead=False)
            failures += _bounds(item, kind, requests, limits)
    return failures


def claim_violations(limit_range: dict, claim: dict) -> list[str]:
    requests = resource_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    failures: list[str | None] = []
    for item in _items(limit_range):
        kind = item.get("type")
        if kind != "PersistentVolumeClaim":
            continue
        # A claim's limits are not user input: only its requests are bounded.
        for name, value in resource_list(item.get("min")).items():
            failures.append(_min(kind, name, value, requests, {}))
        for name, value in resource_list(item.get("max")).items():
            failures.append(_max_request(kind, name, value, requests))
    return [f for f in failures if f]


# -- the plugin -----------------------------------------------------------------


class LimitRanger:
    name = "LimitRanger"

    def __init__(self, lister: Lister) -> None:
        self._lister = lister

    def _applies(self, attrs: Attributes, old: dict | None) -> bool:
        resource = attrs.resource
        if resource.group or resource.plural not in ("pods", "persistentvolumeclaims"):
            return False
        if attrs.operation not in (CREATE, UPDATE):
            return False
        if old is not None and (old.get("metadata") or {}).get("deletionTimestamp"):
            return False
        if resource.plural == "pods":
            if attrs.operation == UPDATE:
                # Containers are immutable; only an in-place resize changes resources.
                return attrs.subresource == "resize"
            return not attrs.subresource
        return not attrs.subresource

    def _limit_ranges(self, namespace: str) -> list[dict]:
        return self._lister.list("", "limitranges", namespace)

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        if attrs.resource.plural != "pods" or not self._applies(attrs, old):
            return
        for limit_range in self._limit_ranges(attrs.namespace):
            requests, limits = container_defaults(limit_range)
            apply_defaults(obj, requests, limits)

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        if not self._applies(attrs, old):
            return
        check = pod_violations if attrs.resource.plural == "pods" else claim_violations
        for limit_range in self._limit_ranges(attrs.namespace):
            failures = check(limit_range, obj)
            if failures:
                raise forbidden(attrs, aggregate(failures))
