"""Validation of apps/v1 kinds, after upstream's ``pkg/apis/apps/validation``.

Every workload shares the selector rules (required, not empty, matches the
pod template's labels, immutable on update) and a pod template whose
restartPolicy must be Always.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.validation.common import (
    as_dict,
    forbidden,
    invalid,
    invalid_text,
    is_int,
    non_negative,
    not_supported,
    regex_error,
    required,
    selector_is_empty,
    selector_matches,
    selector_repr,
    validate_label_selector,
)
from kubeling.api.validation.core import restart_policy_always, validate_pod_template, validate_pvc

Obj = dict[str, Any]

_PERCENT = re.compile(r"[0-9]+%")


def validate_selector_and_template(spec: Obj, noun: str, *, path: str = "spec") -> list[Cause]:
    """Selector present, not empty, matching the template's labels; then the template."""
    errs: list[Cause] = []
    selector = spec.get("selector")
    template = as_dict(spec.get("template"))
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    if selector is None:
        errs.append(required(f"{path}.selector"))
    else:
        errs += validate_label_selector(selector, f"{path}.selector")
        if selector_is_empty(selector):
            errs.append(
                invalid_text(
                    f"{path}.selector", selector_repr(selector), f"empty selector is invalid for {noun}"
                )
            )
        elif not selector_matches(selector, labels):
            errs.append(
                invalid(
                    f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            )
    if spec.get("template") is None:
        errs.append(required(f"{path}.template"))
        return errs
    errs += validate_pod_template(template, f"{path}.template")
    errs += restart_policy_always(template, f"{path}.template.spec.restartPolicy")
    if as_dict(template.get("spec")).get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                f"{path}.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        )
    return errs


def selector_immutable(obj: Obj, old: Obj) -> list[Cause]:
    new_sel = as_dict(obj.get("spec")).get("selector")
    old_sel = as_dict(old.get("spec")).get("selector")
    if new_sel == old_sel:
        return []
    return [invalid_text("spec.selector", selector_repr(new_sel), "field is immutable")]


def _int_or_percent(value: Any, path: str) -> tuple[list[Cause], int | None]:
    """(errors, the value as a number or percent) for maxSurge/maxUnavailable."""
    if value is None:
        return [], None
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            detail = regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'",
                "[0-9]+%",
                "1%",
                "93%",
            )
            return [invalid_text(path, value, detail)], None
        return [], int(value[:-1])
    if not is_int(value):
        return [invalid(path, value, "must be an integer or percentage (e.g '5%')")], None
    if value < 0:
        return [invalid_text(path, str(value), "must be greater than or equal to 0")], None
    return [], value


def validate_rolling_update(rolling: Any, path: str) -> list[Cause]:
    rolling = as_dict(rolling)
    unavailable_errs, unavailable = _int_or_percent(rolling.get("maxUnavailable"), f"{path}.maxUnavailable")
    surge_errs, surge = _int_or_percent(rolling.get("maxSurge"), f"{path}.maxSurge")
    errs = unavailable_errs + surge_errs
    if isinstance(rolling.get("maxUnavailable"), str) and unavailable is not None and unavailable > 100:
        errs.append(
            invalid_text(f"{path}.maxUnavailable", rolling["maxUnavailable"], "must not be greater than 100%")
        )
    if unavailable == 0 and surge == 0:
        errs.append(
            invalid_text(
                f"{path}.maxUnavailable",
                str(rolling.get("maxUnavailable")),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    return errs


# -- Deployments ------------------------------------------------------------------


def validate_deployment(deploy: Obj) -> list[Cause]:
    spec = as_dict(deploy.get("spec"))
    errs = non_negative(spec.get("replicas"), "spec.replicas")
    errs += validate_selector_and_template(spec, "deployment")
    strategy = as_dict(spec.get("strategy"))
    kind = strategy.get("type")
    if not kind:
        errs.append(required("spec.strategy.type"))
    elif kind not in ("Recreate", "RollingUpdate"):
        errs.append(not_supported("spec.strategy.type", kind, ["Recreate", "RollingUpdate"]))
    elif kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        errs.append(
            forbidden(
                "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
            )
        )
    elif kind == "RollingUpdate":
        errs += validate_rolling_update(strategy.get("rollingUpdate"), "spec.strategy.rollingUpdate")
    for field in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        errs += non_negative(spec.get(field), f"spec.{field}")
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if is_int(deadline) and is_int(min_ready) and deadline <= min_ready:
        errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errs


def validate_deployment_update(deploy: Obj, old: Obj) -> list[Cause]:
    return validate_deployment(deploy) + selector_immutable(deploy, old)


# -- ReplicaSets ------------------------------------------------------------------


def validate_replica_set(rs: Obj) -> list[Cause]:
    spec = as_dict(rs.get("spec"))
    errs = non_negative(spec.get("replicas"), "spec.replicas")
    errs += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    return errs + validate_selector_and_template(spec, "deployment")


def validate_replica_set_update(rs: Obj, old: Obj) -> list[Cause]:
    return validate_replica_set(rs) + selector_immutable(rs, old)


# -- StatefulSets -----------------------------------------------------------------


def validate_stateful_set(sts: Obj) -> list[Cause]:
    spec = as_dict(sts.get("spec"))
    errs = non_negative(spec.get("replicas"), "spec.replicas")
    errs += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    policy = spec.get("podManagementPolicy")
    if not policy:
        errs.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    strategy = as_dict(spec.get("updateStrategy"))
    kind = strategy.get("type")
    if not kind:
        errs.append(required("spec.updateStrategy"))
    elif kind not in ("RollingUpdate", "OnDelete"):
        errs.append(invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    elif kind == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.append(
            invalid(
                "spec.updateStrategy.rollingUpdate",
                strategy["rollingUpdate"],
                "only allowed for updateStrategy 'RollingUpdate'",
            )
        )
    elif kind == "RollingUpdate":
        rolling = as_dict(strategy.get("rollingUpdate"))
        errs += non_negative(rolling.get("partition"), "spec.updateStrategy.rollingUpdate.partition")
        if rolling.get("maxUnavailable") is not None:
            problems, value = _int_or_percent(
                rolling["maxUnavailable"], "spec.updateStrategy.rollingUpdate.maxUnavailable"
            )
            errs += problems
            if value == 0:
                errs.append(
                    invalid_text(
                        "spec.updateStrategy.rollingUpdate.maxUnavailable",
                        str(rolling["maxUnavailable"]),
                        "must be greater than 0",
                    )
                )
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for field in ("whenDeleted", "whenScaled"):
        value = retention.get(field)
        if value is not None and value not in ("Retain", "Delete"):
            errs.append(
                not_supported(
                    f"spec.persistentVolumeClaimRetentionPolicy.{field}", value, ["Retain", "Delete"]
                )
            )
    errs += validate_selector_and_template(spec, "statefulset")
    for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
        for cause in validate_pvc(as_dict(claim)):
            errs.append(Cause(cause.type, cause.message, f"spec.volumeClaimTemplates[{i}].{cause.field}"))
    return errs


_STS_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def validate_stateful_set_update(sts: Obj, old: Obj) -> list[Cause]:
    errs = validate_stateful_set(sts)
    new_spec = copy.deepcopy(as_dict(sts.get("spec")))
    old_spec = copy.deepcopy(as_dict(old.get("spec")))
    for spec in (new_spec, old_spec):
        for field in _STS_MUTABLE:
            spec.pop(field, None)
        # revisionHistoryLimit is also updatable upstream (not listed in the message).
        spec.pop("revisionHistoryLimit", None)
    if new_spec != old_spec:
        errs.append(
            forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                "are forbidden",
            )
        )
    return errs


# -- DaemonSets -------------------------------------------------------------------


def validate_daemon_set(ds: Obj) -> list[Cause]:
    spec = as_dict(ds.get("spec"))
    errs = validate_selector_and_template(spec, "daemonset")
    errs += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    strategy = as_dict(spec.get("updateStrategy"))
    kind = strategy.get("type")
    if not kind:
        errs.append(required("spec.updateStrategy.type"))
    elif kind not in ("OnDelete", "RollingUpdate"):
        errs.append(not_supported("spec.updateStrategy.type", kind, ["OnDelete", "RollingUpdate"]))
    elif kind == "RollingUpdate":
        errs += validate_rolling_update(strategy.get("rollingUpdate"), "spec.updateStrategy.rollingUpdate")
    return errs


def validate_daemon_set_update(ds: Obj, old: Obj) -> list[Cause]:
    return validate_daemon_set(ds) + selector_immutable(ds, old)


# -- ControllerRevisions ----------------------------------------------------------


def validate_controller_revision(rev: Obj) -> list[Cause]:
    return non_negative(rev.get("revision"), "revision")


def validate_controller_revision_update(rev: Obj, old: Obj) -> list[Cause]:
    errs = validate_controller_revision(rev)
    if rev.get("data") != old.get("data"):
        errs.append(invalid("data", "", "field is immutable"))
    return errs
