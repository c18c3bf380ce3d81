"""Validation of API objects before they are stored: upstream's per-kind rules.

Entry points (pure functions, no I/O), called by the apiserver's strategies:

- :func:`validate` — create (``old is None``) or update of the main resource:
  object metadata by the kind's name rule and scope, then the kind's own
  rules, then (on update) the immutable fields.
- :func:`validate_status` — a write through the ``status`` subresource.
- :func:`validate_custom` — a custom resource against its CRD version's
  ``openAPIV3Schema``.
- :func:`unknown_fields` / :func:`prune_unknown` — fields outside the schema
  (``fieldValidation`` Strict/Warn, and pruning of custom resources).

Each kind is one :class:`KindRules` entry: its name rule, its create check and
its update check.  Kinds without an entry get metadata validation only.  A
malformed object never raises: a bug in one check turns into an Invalid
cause rather than a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.resources import Resource
from kubeling.api.validation import apiregistration, apps, batch, core, crd, other
from kubeling.api.validation.common import (
    NameFn,
    as_dict,
    as_list,
    forbidden,
    invalid,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_ip,
    is_path_segment_name,
    non_negative,
    not_supported,
    required,
    validate_annotations,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from kubeling.api.validation.unknown import prune_unknown, unknown_fields

Obj = dict[str, Any]
Check = Callable[[Obj], list[Cause]]
UpdateCheck = Callable[[Obj, Obj], list[Cause]]

__all__ = ["prune_unknown", "unknown_fields", "validate", "validate_custom", "validate_status"]


@dataclass(frozen=True)
class KindRules:
    name: NameFn = is_dns1123_subdomain
    create: Check | None = None
    # None: the create check applied to the new object.
    update: UpdateCheck | None = None


def _binding(binding: Obj) -> list[Cause]:
    target = as_dict(binding.get("target"))
    return [] if target.get("name") else [required("target.name")]


_RULES: dict[tuple[str, str], KindRules] = {
    ("", "Binding"): KindRules(create=_binding),
    ("", "ConfigMap"): KindRules(create=core.validate_config_map, update=core.validate_config_map_update),
    ("", "Endpoints"): KindRules(create=core.validate_endpoints),
    ("", "Event"): KindRules(create=core.validate_event),
    ("", "LimitRange"): KindRules(create=core.validate_limit_range),
    ("", "Namespace"): KindRules(name=is_dns1123_label, create=core.validate_namespace),
    ("", "Node"): KindRules(create=core.validate_node, update=core.validate_node_update),
    ("", "PersistentVolume"): KindRules(create=core.validate_pv),
    ("", "PersistentVolumeClaim"): KindRules(create=core.validate_pvc, update=core.validate_pvc_update),
    ("", "Pod"): KindRules(create=core.validate_pod, update=core.validate_pod_update),
    ("", "PodTemplate"): KindRules(create=core.validate_pod_template_object),
    ("", "ReplicationController"): KindRules(create=core.validate_replication_controller),
    ("", "ResourceQuota"): KindRules(create=core.validate_resource_quota),
    ("", "Secret"): KindRules(create=core.validate_secret, update=core.validate_secret_update),
    ("", "Service"): KindRules(
        name=is_dns1035_label, create=core.validate_service, update=core.validate_service_update
    ),
    ("", "ServiceAccount"): KindRules(create=core.validate_service_account),
    ("apps", "ControllerRevision"): KindRules(
        create=apps.validate_controller_revision, update=apps.validate_controller_revision_update
    ),
    ("apps", "DaemonSet"): KindRules(create=apps.validate_daemon_set, update=apps.validate_daemon_set_update),
    ("apps", "Deployment"): KindRules(
        create=apps.validate_deployment, update=apps.validate_deployment_update
    ),
    ("apps", "ReplicaSet"): KindRules(
        create=apps.validate_replica_set, update=apps.validate_replica_set_update
    ),
    ("apps", "StatefulSet"): KindRules(
        create=apps.validate_stateful_set, update=apps.validate_stateful_set_update
    ),
    ("batch", "CronJob"): KindRules(create=batch.validate_cron_job, update=batch.validate_cron_job_update),
    ("batch", "Job"): KindRules(create=batch.validate_job, update=batch.validate_job_update),
    ("autoscaling", "HorizontalPodAutoscaler"): KindRules(create=other.validate_hpa),
    ("coordination.k8s.io", "Lease"): KindRules(create=other.validate_lease),
    ("discovery.k8s.io", "EndpointSlice"): KindRules(
        create=other.validate_endpoint_slice, update=other.validate_endpoint_slice_update
    ),
    ("events.k8s.io", "Event"): KindRules(create=other.validate_events_event),
    ("networking.k8s.io", "Ingress"): KindRules(create=other.validate_ingress),
    ("networking.k8s.io", "IngressClass"): KindRules(
        create=other.validate_ingress_class, update=other.validate_ingress_class_update
    ),
    ("networking.k8s.io", "NetworkPolicy"): KindRules(create=other.validate_network_policy),
    ("policy", "PodDisruptionBudget"): KindRules(create=other.validate_pdb),
    ("rbac.authorization.k8s.io", "ClusterRole"): KindRules(
        name=is_path_segment_name, create=other.validate_cluster_role
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): KindRules(
        name=is_path_segment_name,
        create=other.validate_cluster_role_binding,
        update=other.validate_binding_update,
    ),
    ("rbac.authorization.k8s.io", "Role"): KindRules(name=is_path_segment_name, create=other.validate_role),
    ("rbac.authorization.k8s.io", "RoleBinding"): KindRules(
        name=is_path_segment_name, create=other.validate_role_binding, update=other.validate_binding_update
    ),
    ("scheduling.k8s.io", "PriorityClass"): KindRules(
        create=other.validate_priority_class, update=other.validate_priority_class_update
    ),
    ("storage.k8s.io", "StorageClass"): KindRules(
        create=other.validate_storage_class, update=other.validate_storage_class_update
    ),
    ("apiregistration.k8s.io", "APIService"): KindRules(
        name=apiregistration.api_service_name, create=apiregistration.validate_api_service
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): KindRules(
        create=crd.validate_crd, update=crd.validate_crd_update
    ),
}


def rules_for(resource: Resource) -> KindRules:
    if resource.is_custom:
        return KindRules()
    return _RULES.get((resource.group, resource.kind), KindRules())


def _guarded(check: Callable[[], list[Cause]]) -> list[Cause]:
    try:
        return check()
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as err:
        # A field of an unexpected shape that slipped past the checks above it.
        return [invalid("", "", f"malformed object: {err}")]


def validate(resource: Resource, obj: Obj, old: Obj | None = None) -> list[Cause]:
    """Causes that make ``obj`` unacceptable (empty when it is valid)."""
    if not isinstance(obj, dict):
        return [invalid("", "", "must be an object")]
    rules = rules_for(resource)

    def run() -> list[Cause]:
        errs = validate_object_meta(obj.get("metadata"), namespaced=resource.namespaced, name_fn=rules.name)
        if old is None:
            if rules.create is not None:
                errs += rules.create(obj)
            return errs
        errs += validate_object_meta_update(obj.get("metadata"), as_dict(old.get("metadata")))
        errs += _finalizers_while_deleting(as_dict(obj.get("metadata")), as_dict(old.get("metadata")))
        if rules.update is not None:
            errs += rules.update(obj, old)
        elif rules.create is not None:
            errs += rules.create(obj)
        return errs

    return _dedupe(_guarded(run))


def _finalizers_while_deleting(meta: Obj, old_meta: Obj) -> list[Cause]:
    if not old_meta.get("deletionTimestamp"):
        return []
    added = [f for f in as_list(meta.get("finalizers")) if f not in as_list(old_meta.get("finalizers"))]
    if not added:
        return []
    rendered = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
    return [
        forbidden(
            "metadata.finalizers",
            f"no new finalizers can be added if the object is being deleted, found new finalizers {rendered}",
        )
    ]


def _dedupe(causes: list[Cause]) -> list[Cause]:
    # Upstream's aggregate drops repeated messages for the same field.
    seen: set[tuple[str, str]] = set()
    out = []
    for cause in causes:
        key = (cause.field, cause.message)
        if key not in seen:
            seen.add(key)
            out.append(cause)
    return out


# -- status -------------------------------------------------------------------------

_STATUS_COUNTS = (
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "fullyLabeledReplicas",
    "currentReplicas",
    "observedGeneration",
    "currentNumberScheduled",
    "numberMisscheduled",
    "desiredNumberScheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
    "collisionCount",
    "active",
    "succeeded",
    "failed",
    "terminating",
    "ready",
    "currentHealthy",
    "desiredHealthy",
    "expectedPods",
    "disruptionsAllowed",
    "currentReplicas",
    "desiredReplicas",
)
POD_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
NAMESPACE_PHASES = ["Active", "Terminating"]


def validate_status(resource: Resource, obj: Obj, old: Obj) -> list[Cause]:
    """A status-subresource write: metadata stays put, counts and phases are sane."""
    if not isinstance(obj, dict):
        return [invalid("", "", "must be an object")]

    def run() -> list[Cause]:
        meta = as_dict(obj.get("metadata"))
        errs = validate_object_meta_update(meta, as_dict(as_dict(old).get("metadata")))
        errs += validate_labels(meta.get("labels"), "metadata.labels")
        errs += validate_annotations(meta.get("annotations"), "metadata.annotations")
        status = as_dict(obj.get("status"))
        for field in _STATUS_COUNTS:
            # CronJobStatus.active is a list of Job references, not a count.
            if field in status and not (field == "active" and resource.kind == "CronJob"):
                errs += non_negative(status[field], f"status.{field}")
        key = (resource.group, resource.kind)
        if key == ("", "Pod"):
            errs += _pod_status(status)
            errs += _binding_of_gated_pod(as_dict(obj.get("spec")), as_dict(as_dict(old).get("spec")))
        elif key == ("", "Namespace") and status.get("phase") and status["phase"] not in NAMESPACE_PHASES:
            errs.append(not_supported("status.phase", status["phase"], NAMESPACE_PHASES))
        for i, condition in enumerate(as_list(status.get("conditions"))):
            condition = as_dict(condition)
            if not condition.get("type"):
                errs.append(required(f"status.conditions[{i}].type"))
            if resource.group != "" and condition.get("status") not in (None, "True", "False", "Unknown"):
                errs.append(
                    not_supported(
                        f"status.conditions[{i}].status", condition["status"], ["False", "True", "Unknown"]
                    )
                )
        return errs

    return _dedupe(_guarded(run))


def _binding_of_gated_pod(spec: Obj, old_spec: Obj) -> list[Cause]:
    """Only a binding sets nodeName here; a pod still gated must not be bound."""
    if spec.get("nodeName") and not old_spec.get("nodeName") and as_list(spec.get("schedulingGates")):
        return [forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")]
    return []


def _pod_status(status: Obj) -> list[Cause]:
    errs: list[Cause] = []
    phase = status.get("phase")
    if phase and phase not in POD_PHASES:
        errs.append(not_supported("status.phase", phase, POD_PHASES))
    for field in ("podIPs", "hostIPs"):
        for i, entry in enumerate(as_list(status.get(field))):
            ip = as_dict(entry).get("ip")
            if ip:
                errs += [invalid(f"status.{field}[{i}].ip", ip, m) for m in is_ip(str(ip))]
    return errs


# -- custom resources -------------------------------------------------------------------


def validate_custom(resource: Resource, obj: Obj) -> list[Cause]:
    """A custom resource against its CRD version's openAPIV3Schema."""
    if not isinstance(obj, dict):
        return [invalid("", "", "must be an object")]
    return _dedupe(_guarded(lambda: crd.validate_custom(resource.crd, resource.version, obj)))
