"""Rule coverage and breakdown (validation.Covers), the basis of reconciliation."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.apiserver.authz.rules import breakdown, covers, make_rule, uncovered

from .conftest import rule


def test_breakdown() -> None:
    assert breakdown(rule("get list", "core apps", "pods", names="a")) == [
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
        {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
        {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"], "resourceNames": ["a"]},
        {"verbs": ["list"], "apiGroups": ["apps"], "resources": ["pods"], "resourceNames": ["a"]},
    ]
    assert breakdown(rule("get", urls="/a /b")) == [
        {"verbs": ["get"], "nonResourceURLs": ["/a"]},
        {"verbs": ["get"], "nonResourceURLs": ["/b"]},
    ]


@pytest.mark.parametrize(
    ("owner", "servant", "expected"),
    [
        pytest.param([rule("*", "*", "*")], [rule("get", "apps", "deployments/scale")], True, id="star"),
        pytest.param([rule("get list", "core", "pods")], [rule("get", "core", "pods")], True, id="subset"),
        pytest.param(
            [rule("get", "core", "pods"), rule("list", "core", "pods")],
            [rule("get list", "core", "pods")],
            True,
            id="split",
        ),
        pytest.param(
            [rule("get", "core", "pods")], [rule("get list", "core", "pods")], False, id="missing-verb"
        ),
        pytest.param(
            [rule("get", "core", "*/scale")], [rule("get", "core", "rc/scale")], True, id="star-sub"
        ),
        pytest.param(
            [rule("get", "core", "*/scale")], [rule("get", "core", "rc")], False, id="star-sub-not-parent"
        ),
        pytest.param(
            [rule("get", "core", "pods", names="a b")],
            [rule("get", "core", "pods", names="a")],
            True,
            id="names",
        ),
        pytest.param(
            [rule("get", "core", "pods", names="a")], [rule("get", "core", "pods")], False, id="names-vs-all"
        ),
        pytest.param(
            [rule("get", urls="/healthz/*")], [rule("get", urls="/healthz/etcd")], True, id="url-prefix"
        ),
        pytest.param(
            [rule("get", urls="/healthz")], [rule("get", urls="/healthz/etcd")], False, id="url-exact"
        ),
    ],
)
def test_covers(owner: list[dict[str, Any]], servant: list[dict[str, Any]], expected: bool) -> None:
    assert covers(owner, servant) is expected


def test_uncovered_pieces() -> None:
    assert uncovered([rule("get", "core", "pods")], [rule("get list", "core", "pods")]) == [
        {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}
    ]


def test_make_rule_sorts_and_drops_empty() -> None:
    assert make_rule(["watch", "get", "get"], [""], ["pods"]) == {
        "verbs": ["get", "watch"],
        "apiGroups": [""],
        "resources": ["pods"],
    }
