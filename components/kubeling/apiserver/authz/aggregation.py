"""ClusterRole aggregation: the rules an aggregated ClusterRole should hold.

A ClusterRole with ``aggregationRule.clusterRoleSelectors`` owns no rules of
its own: the clusterrole-aggregation controller keeps its ``rules`` equal to
the union of the rules of every *other* ClusterRole that one of its selectors
matches — selectors in order, matched roles by name, rules in their order,
each distinct rule once (missing and empty lists count as equal, like
``Semantic.DeepEqual``).

The controller reads the matched roles' *current* rules, so chains (``view``
is labelled into ``edit``, ``edit`` into ``admin``) settle over a few syncs.
:func:`aggregate` computes that settled state at once by repeating the pass
until nothing changes.  A role whose selector does not parse keeps its rules
and is left out of the answer (the controller would log and retry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import LabelSelector, label_selector_from_dict
from kubeling.apiserver.authz.rules import normalize, rule_key


def _name(role: Mapping[str, Any]) -> str:
    return (role.get("metadata") or {}).get("name", "")


def _labels(role: Mapping[str, Any]) -> Mapping[str, str]:
    return (role.get("metadata") or {}).get("labels") or {}


def _selectors(role: Mapping[str, Any]) -> list[LabelSelector] | None:
    """The parsed selectors of an aggregated role; None if it is not one or they do not parse."""
    rule = role.get("aggregationRule")
    if not rule:
        return None
    try:
        return [label_selector_from_dict(s or {}) for s in rule.get("clusterRoleSelectors") or []]
    except StatusError:
        return None


def _union(
    name: str, selectors: list[LabelSelector], roles: list[Mapping[str, Any]], rules: Mapping[str, list[Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for selector in selectors:
        for other in roles:
            other_name = _name(other)
            if other_name == name or not selector.matches(_labels(other)):
                continue
            for rule in rules[other_name]:
                key = rule_key(rule)
                if key not in seen:
                    seen.add(key)
                    out.append(normalize(rule))
    return out


def aggregate(cluster_roles: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The rules each aggregated ClusterRole should have, by name."""
    roles = sorted(cluster_roles, key=_name)
    rules: dict[str, list[Any]] = {_name(r): list(r.get("rules") or []) for r in roles}
    aggregated = {_name(r): sel for r in roles if (sel := _selectors(r)) is not None}
    # Each pass can push rules one link further down a chain of aggregations.
    for _ in range(len(aggregated) + 1):
        changed = False
        for name, selectors in aggregated.items():
            new = _union(name, selectors, roles, rules)
            if [rule_key(r) for r in new] != [rule_key(r) for r in rules[name]]:
                rules[name] = new
                changed = True
        if not changed:
            break
    return {name: [normalize(r) for r in rules[name]] for name in aggregated}
