"""A Job's podFailurePolicy and successPolicy, as pure functions over pods and indexes.

**podFailurePolicy** rules are tried in order against a failed pod; the
first that matches decides:

- ``onExitCodes``: some container (init or regular, optionally only
  ``containerName``) terminated with a non-zero exit code that is ``In`` or
  ``NotIn`` the listed values;
- ``onPodConditions``: the pod has a condition of that type and status.

Actions: ``FailJob`` (the Job fails at once, reason PodFailurePolicy),
``Ignore`` (the failure does not count toward backoffLimit), ``Count``
(it counts, as without a policy), ``FailIndex`` (with backoffLimitPerIndex:
the pod's index fails at once).  No match counts the failure.

**successPolicy** (Indexed Jobs): the first rule met — all of
``succeededIndexes`` succeeded, or at least ``succeededCount`` of them (or
of all indexes) — makes the Job succeed early, reason SuccessPolicy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeling.controllers.jobindex import parse_indexes

Obj = dict[str, Any]


@dataclass(frozen=True)
class FailureMatch:
    action: str  # FailJob | Ignore | Count | FailIndex
    message: str | None  # the FailJob condition message


def _terminated_codes(pod: Obj, container_name: str | None) -> list[tuple[str, int]]:
    status = pod.get("status") or {}
    found: list[tuple[str, int]] = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if container_name and cs.get("name") != container_name:
            continue
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated is None:
            continue
        code = int(terminated.get("exitCode") or 0)
        if code != 0:  # successful containers never match
            found.append((cs.get("name", ""), code))
    return found


def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> FailureMatch | None:
    """The first rule of ``policy`` matching the failed ``pod``, or None."""
    meta = pod.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    for index, rule in enumerate((policy or {}).get("rules") or []):
        action = rule.get("action", "")
        on_codes = rule.get("onExitCodes")
        if on_codes is not None:
            values = set(on_codes.get("values") or [])
            negate = on_codes.get("operator") == "NotIn"
            for name, code in _terminated_codes(pod, on_codes.get("containerName")):
                if (code in values) != negate:
                    message = (
                        f"Container {name} for pod {where} failed with exit code {code} "
                        f"matching {action} rule at index {index}"
                    )
                    return FailureMatch(action, message if action == "FailJob" else None)
            continue
        for pattern in rule.get("onPodConditions") or []:
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == pattern.get("type") and cond.get("status") == pattern.get(
                    "status", "True"
                ):
                    message = (
                        f"Pod {where} has condition {cond['type']} matching {action} rule at index {index}"
                    )
                    return FailureMatch(action, message if action == "FailJob" else None)
    return None


def match_success_policy(policy: Obj | None, succeeded: set[int], completions: int) -> str | None:
    """The SuccessCriteriaMet message when a rule of ``policy`` is met, else None."""
    for index, rule in enumerate((policy or {}).get("rules") or []):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = parse_indexes(rule["succeededIndexes"], completions)
            done = required & succeeded
            met = len(done) >= int(count) if count is not None else bool(required) and required <= succeeded
        elif count is not None:
            met = len(succeeded) >= int(count)
        else:
            met = False
        if met:
            return f"Matched rules at index {index}"
    return None
