"""What an object costs against a ResourceQuota, as upstream's quota evaluators.

Pure functions shared by the ResourceQuota admission plugin and the quota
controller (which adds up :func:`usage_of` over every object it lists):

- :func:`usage_of` — the resources one object consumes: ``count/<resource>``
  for everything, plus per kind ``pods``/``requests.cpu``/``limits.memory``...
  (pods), ``services``/``services.nodeports``/``services.loadbalancers``,
  ``persistentvolumeclaims``/``requests.storage`` (also per storage class),
  and the legacy names ``configmaps``, ``secrets``, ``replicationcontrollers``,
  ``resourcequotas``.
- :func:`tracks` — whether a quota resource name is one this kind's
  evaluator accounts for (a quota covers an object only if it tracks one).
- :func:`scope_matches` — whether a quota's scopes (``Terminating``,
  ``BestEffort``, ``PriorityClass`` via scopeSelector, ...) select an object.
- :func:`missing_requirements` — the ``must specify ...`` constraint: a
  quota on cpu or memory requires every container to state them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from kubeling.api.validation.common import is_qualified_name
from kubeling.apiserver.admission.common import (
    ResourceList,
    add,
    container_resources,
    pod_limits,
    pod_requests,
    resource_list,
)
from kubeling.apiserver.strategies import qos_class

STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
VOLUME_ATTRIBUTES_CLASS_SUFFIX = ".volumeattributesclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"

# Quota names that predate count/<resource> and stay as aliases of it.
_LEGACY_COUNTS = {
    "configmaps": "configmaps",
    "secrets": "secrets",
    "replicationcontrollers": "replicationcontrollers",
    "resourcequotas": "resourcequotas",
}
_POD_RESOURCES = frozenset(
    {
        "count/pods",
        "pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    }
)
_SERVICE_RESOURCES = frozenset({"count/services", "services", "services.nodeports", "services.loadbalancers"})
_PVC_RESOURCES = frozenset({"count/persistentvolumeclaims", "persistentvolumeclaims", "requests.storage"})
# Resources whose quota obliges every container to state them.
_REQUIRED_PER_CONTAINER = frozenset(
    {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
)

ONE = Decimal(1)


def count_name(group: str, plural: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def is_extended_resource(name: str) -> bool:
    """Extended resources (example.com/gpu) are quota'd only as requests.<name>."""
    if "/" not in name or "kubernetes.io/" in name or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


# -- pods -----------------------------------------------------------------------


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """A pod's (or a container's) compute usage under every quota name for it."""
    usage: ResourceList = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            usage[name] = requests[name]
            usage[f"requests.{name}"] = requests[name]
        if name in limits:
            usage[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            usage[name] = value
            usage[f"requests.{name}"] = value
        if is_extended_resource(name):
            usage[f"requests.{name}"] = value
    return usage


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None


def pod_is_live(pod: dict, now: datetime | None = None) -> bool:
    """Terminal pods, and pods past their deletion grace, no longer hold compute quota."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    metadata = pod.get("metadata") or {}
    deleted = _timestamp(metadata.get("deletionTimestamp") or "")
    grace = metadata.get("deletionGracePeriodSeconds")
    if deleted is not None and isinstance(grace, int):
        now = now or datetime.now(UTC)
        if now > deleted + timedelta(seconds=grace):
            return False
    return True


def pod_usage(pod: dict, now: datetime | None = None) -> ResourceList:
    # count/pods tracks every stored pod; "pods" and compute only live ones.
    usage: ResourceList = {"count/pods": ONE}
    if not pod_is_live(pod, now):
        return usage
    spec = pod.get("spec") or {}
    add(usage, compute_usage(pod_requests(spec), pod_limits(spec)))
    return usage


def missing_requirements(pod: dict, tracked: set[str]) -> str | None:
    """``must specify requests.cpu for: web; ...`` when containers leave a quota'd resource unset."""
    required = tracked & _REQUIRED_PER_CONTAINER
    if not required:
        return None
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            stated = compute_usage(
                container_resources(container, "requests"), container_resources(container, "limits")
            )
            for name in required - stated.keys():
                missing.setdefault(name, set()).add(container.get("name", ""))
    if not missing:
        return None
    parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
    return "must specify " + "; ".join(parts)


def _terminating(pod: dict) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def _cross_namespace_affinity(pod: dict) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [
            w.get("podAffinityTerm") or {}
            for w in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


def _value_matches(requirement: dict, value: str) -> bool:
    operator = requirement.get("operator")
    values = requirement.get("values") or []
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return bool(value)
    if operator == "DoesNotExist":
        return not value
    return False


def _pod_scope(requirement: dict, pod: dict) -> bool:
    scope = requirement.get("scopeName")
    spec = pod.get("spec") or {}
    if scope == "Terminating":
        return _terminating(pod)
    if scope == "NotTerminating":
        return not _terminating(pod)
    if scope == "BestEffort":
        return qos_class(spec) == "BestEffort"
    if scope == "NotBestEffort":
        return qos_class(spec) != "BestEffort"
    if scope == "PriorityClass":
        return _value_matches(requirement, spec.get("priorityClassName") or "")
    if scope == "CrossNamespacePodAffinity":
        return _cross_namespace_affinity(pod)
    return False


# -- services and claims ----------------------------------------------------------


def service_usage(service: dict) -> ResourceList:
    spec = service.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    usage: ResourceList = {
        "count/services": ONE,
        "services": ONE,
        "services.loadbalancers": Decimal(0),
        "services.nodeports": Decimal(0),
    }
    kind = spec.get("type")
    if kind == "NodePort":
        usage["services.nodeports"] = Decimal(len(ports))
    elif kind == "LoadBalancer":
        usage["services.loadbalancers"] = ONE
        if spec.get("allocateLoadBalancerNodePorts") is False:
            usage["services.nodeports"] = Decimal(sum(1 for p in ports if p.get("nodePort")))
        else:
            usage["services.nodeports"] = Decimal(len(ports))
    return usage


def claim_storage_class(claim: dict) -> str:
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return annotations[BETA_STORAGE_CLASS_ANNOTATION]
    return (claim.get("spec") or {}).get("storageClassName") or ""


def claim_usage(claim: dict) -> ResourceList:
    usage: ResourceList = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
    storage_class = claim_storage_class(claim)
    if storage_class:
        usage[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    spec = claim.get("spec") or {}
    attributes_class = spec.get("volumeAttributesClassName") or ""
    if attributes_class:
        usage[f"{attributes_class}{VOLUME_ATTRIBUTES_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    requested = resource_list((spec.get("resources") or {}).get("requests")).get("storage")
    allocated = resource_list((claim.get("status") or {}).get("allocatedResources")).get("storage")
    if allocated is not None and (requested is None or allocated > requested):
        requested = allocated  # an expansion in flight holds the larger size
    if requested is not None:
        # Storage is charged in whole bytes.
        requested = requested.to_integral_value(ROUND_CEILING)
        usage["requests.storage"] = requested
        if storage_class:
            usage[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = requested
        if attributes_class:
            usage[f"{attributes_class}{VOLUME_ATTRIBUTES_CLASS_SUFFIX}requests.storage"] = requested
    return usage


# -- dispatch -------------------------------------------------------------------


def usage_of(resource_group: str, plural: str, obj: dict) -> dict[str, Decimal]:
    """Everything one object of ``plural.resource_group`` consumes, by quota resource name."""
    if not resource_group and plural == "pods":
        return pod_usage(obj)
    if not resource_group and plural == "services":
        return service_usage(obj)
    if not resource_group and plural == "persistentvolumeclaims":
        return claim_usage(obj)
    usage: ResourceList = {count_name(resource_group, plural): ONE}
    if not resource_group and plural in _LEGACY_COUNTS:
        usage[_LEGACY_COUNTS[plural]] = ONE
    return usage


def tracks(resource_group: str, plural: str, name: str) -> bool:
    """Whether quota resource ``name`` is one this kind's evaluator accounts for."""
    if not resource_group and plural == "pods":
        if name in _POD_RESOURCES or name.startswith(("hugepages-", "requests.hugepages-")):
            return True
        return name.startswith("requests.") and is_extended_resource(name[len("requests.") :])
    if not resource_group and plural == "services":
        return name in _SERVICE_RESOURCES
    if not resource_group and plural == "persistentvolumeclaims":
        if name in _PVC_RESOURCES:
            return True
        for suffix in (STORAGE_CLASS_SUFFIX, VOLUME_ATTRIBUTES_CLASS_SUFFIX):
            if suffix in name:
                return name.split(suffix, 1)[1] in ("persistentvolumeclaims", "requests.storage")
        return False
    if name == count_name(resource_group, plural):
        return True
    return not resource_group and _LEGACY_COUNTS.get(plural) == name


def scope_requirements(quota: dict) -> list[dict]:
    """A quota's ``scopes`` (each as an Exists requirement) and scopeSelector expressions."""
    spec = quota.get("spec") or {}
    requirements = [{"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []]
    requirements += list((spec.get("scopeSelector") or {}).get("matchExpressions") or [])
    return requirements


def scope_matches(resource_group: str, plural: str, requirement: dict, obj: dict) -> bool:
    if not resource_group and plural == "pods":
        return _pod_scope(requirement, obj)
    if not resource_group and plural == "persistentvolumeclaims":
        if requirement.get("scopeName") == "VolumeAttributesClass":
            value = (obj.get("spec") or {}).get("volumeAttributesClassName") or ""
            return _value_matches(requirement, value)
        return False
    return True  # object counts ignore scopes
