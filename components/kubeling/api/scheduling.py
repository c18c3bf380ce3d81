"""Pure scheduling predicates: node selector terms, tolerations against taints.

They are shared by everything that decides whether a pod belongs on a node:
the scheduler's filters, the DaemonSet controller, node lifecycle's taint
manager, volume binding.  They follow upstream's
``component-helpers/scheduling/corev1`` semantics: node selector terms are
ORed, the requirements inside one term ANDed; an empty term matches nothing;
``matchFields`` only knows ``metadata.name``.  A toleration with an empty key
and ``Exists`` tolerates every taint; an empty effect tolerates every effect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
_INTEGER = re.compile(r"[+-]?[0-9]+")


def requirement_matches(expr: Obj, labels: dict[str, str]) -> bool:
    key, op = expr.get("key", ""), expr.get("operator", "")
    values = expr.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        have, want = labels[key], values[0]
        if not _INTEGER.fullmatch(have) or not _INTEGER.fullmatch(str(want)):
            return False
        return int(have) > int(want) if op == "Gt" else int(have) < int(want)
    return False


def term_matches(term: Obj, node_name: str, labels: dict[str, str]) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    if not all(requirement_matches(e, labels) for e in expressions):
        return False
    for field in fields:
        if field.get("key") != "metadata.name":
            return False
        if not requirement_matches({**field, "key": "name"}, {"name": node_name}):
            return False
    return True


def node_selector_terms_match(terms: Iterable[Obj], node_name: str, labels: dict[str, str]) -> bool:
    return any(term_matches(term, node_name, labels) for term in terms)


def required_node_affinity_matches(pod: Obj, node_name: str, labels: dict[str, str]) -> bool:
    """``nodeSelector`` and required node affinity, both of which must hold."""
    spec = pod.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    for key, value in selector.items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or None
    if required is None:
        return True
    return node_selector_terms_match(required.get("nodeSelectorTerms") or [], node_name, labels)


def toleration_tolerates(toleration: Obj, taint: Obj) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(tolerations: list[Obj], taint: Obj) -> bool:
    return any(toleration_tolerates(t, taint) for t in tolerations)


def first_untolerated(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> Obj | None:
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(tolerations, taint):
            return taint
    return None
