"""The shared scheduling predicates: node selector terms and tolerations."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.api.scheduling import (
    first_untolerated,
    node_selector_terms_match,
    required_node_affinity_matches,
    requirement_matches,
    toleration_tolerates,
)

Obj = dict[str, Any]
LABELS = {"zone": "a", "cores": "8"}


def expr(key: str, operator: str, *values: str) -> Obj:
    return {"key": key, "operator": operator, "values": list(values)}


REQUIREMENTS = [
    ("in", expr("zone", "In", "a", "b"), True),
    ("in-other", expr("zone", "In", "b"), False),
    ("not-in", expr("zone", "NotIn", "b"), True),
    ("not-in-absent-key", expr("gpu", "NotIn", "x"), True),
    ("exists", expr("zone", "Exists"), True),
    ("does-not-exist", expr("zone", "DoesNotExist"), False),
    ("gt", expr("cores", "Gt", "4"), True),
    ("lt", expr("cores", "Lt", "4"), False),
    ("gt-not-a-number", expr("zone", "Gt", "4"), False),
    ("gt-two-values", expr("cores", "Gt", "4", "5"), False),
    ("unknown-operator", expr("zone", "Like", "a"), False),
]


@pytest.mark.parametrize(("req", "matches"), [c[1:] for c in REQUIREMENTS], ids=[c[0] for c in REQUIREMENTS])
def test_requirement(req: Obj, matches: bool) -> None:
    assert requirement_matches(req, LABELS) is matches


TERMS = [
    ("empty-term-matches-nothing", [{}], False),
    (
        "terms-are-ored",
        [{"matchExpressions": [expr("zone", "In", "b")]}, {"matchExpressions": [expr("zone", "In", "a")]}],
        True,
    ),
    (
        "requirements-are-anded",
        [{"matchExpressions": [expr("zone", "In", "a"), expr("gpu", "Exists")]}],
        False,
    ),
    ("match-fields-by-name", [{"matchFields": [expr("metadata.name", "In", "n1")]}], True),
    ("match-fields-other-key", [{"matchFields": [expr("metadata.uid", "In", "n1")]}], False),
]


@pytest.mark.parametrize(("terms", "matches"), [c[1:] for c in TERMS], ids=[c[0] for c in TERMS])
def test_node_selector_terms(terms: list[Obj], matches: bool) -> None:
    assert node_selector_terms_match(terms, "n1", LABELS) is matches


def test_node_selector_and_required_affinity_must_both_hold() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expr("cores", "Gt", "4")]}]
            }
        }
    }
    assert required_node_affinity_matches(
        {"spec": {"nodeSelector": {"zone": "a"}, "affinity": affinity}}, "n1", LABELS
    )
    assert not required_node_affinity_matches(
        {"spec": {"nodeSelector": {"zone": "b"}, "affinity": affinity}}, "n1", LABELS
    )
    assert required_node_affinity_matches({"spec": {}}, "n1", LABELS)


TAINT = {"key": "k", "value": "v", "effect": "NoExecute"}
TOLERATIONS = [
    ("equal", {"key": "k", "operator": "Equal", "value": "v"}, True),
    ("equal-is-default", {"key": "k", "value": "v"}, True),
    ("equal-other-value", {"key": "k", "value": "w"}, False),
    ("exists", {"key": "k", "operator": "Exists"}, True),
    ("empty-key-exists-tolerates-all", {"operator": "Exists"}, True),
    ("empty-key-equal-tolerates-nothing", {"operator": "Equal"}, False),
    ("other-effect", {"key": "k", "operator": "Exists", "effect": "NoSchedule"}, False),
    ("same-effect", {"key": "k", "operator": "Exists", "effect": "NoExecute"}, True),
    ("other-key", {"key": "j", "operator": "Exists"}, False),
]


@pytest.mark.parametrize(("toleration", "ok"), [c[1:] for c in TOLERATIONS], ids=[c[0] for c in TOLERATIONS])
def test_toleration(toleration: Obj, ok: bool) -> None:
    assert toleration_tolerates(toleration, TAINT) is ok


def test_first_untolerated_looks_only_at_the_given_effects() -> None:
    soft = {"key": "s", "effect": "PreferNoSchedule"}
    hard = {"key": "h", "effect": "NoSchedule"}
    assert first_untolerated([soft, hard], [], ("NoSchedule", "NoExecute")) == hard
    assert first_untolerated([soft, hard], [{"key": "h", "operator": "Exists"}], ("NoSchedule",)) is None
