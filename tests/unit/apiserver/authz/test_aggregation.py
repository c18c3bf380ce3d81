"""ClusterRole aggregation: union of selected roles' rules, deduplicated, in stable order."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.apiserver.authz.aggregation import aggregate
from kubeling.apiserver.authz.bootstrap import cluster_roles
from kubeling.apiserver.authz.rules import covers

from .conftest import cluster_role, rule

PODS = rule("get", "core", "pods")
NODES = rule("get", "core", "nodes")
SECRETS = rule("get", "core", "secrets")


def to(target: str) -> dict[str, str]:
    return {f"example.com/aggregate-to-{target}": "true"}


def selects(target: str) -> list[dict[str, Any]]:
    return [{"matchLabels": to(target)}]


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        pytest.param(
            [
                cluster_role("agg", selectors=selects("agg")),
                cluster_role("b-nodes", NODES, labels=to("agg")),
                cluster_role("a-pods", PODS, labels=to("agg")),
                cluster_role("unlabelled", SECRETS),
            ],
            {"agg": [PODS, NODES]},
            id="union-by-role-name",
        ),
        pytest.param(
            [
                cluster_role("agg", selectors=selects("agg")),
                cluster_role("a", PODS, NODES, labels=to("agg")),
                cluster_role("b", {**NODES, "resourceNames": []}, PODS, SECRETS, labels=to("agg")),
            ],
            {"agg": [PODS, NODES, SECRETS]},
            id="deduplicated-empty-lists-equal",
        ),
        pytest.param(
            [
                cluster_role("agg", selectors=[*selects("second"), *selects("first")]),
                cluster_role("a", PODS, labels=to("first")),
                cluster_role("b", NODES, labels=to("second")),
            ],
            {"agg": [NODES, PODS]},
            id="selector-order-first",
        ),
        pytest.param(
            [cluster_role("agg", PODS, labels=to("agg"), selectors=selects("agg"))],
            {"agg": []},
            id="never-itself",
        ),
        pytest.param(
            [
                cluster_role("admin", selectors=selects("admin")),
                cluster_role("edit", labels=to("admin"), selectors=selects("edit")),
                cluster_role("view", labels=to("edit"), selectors=selects("view")),
                cluster_role("base-view", PODS, labels=to("view")),
                cluster_role("base-edit", SECRETS, labels=to("edit")),
                cluster_role("base-admin", NODES, labels=to("admin")),
            ],
            {"admin": [NODES, SECRETS, PODS], "edit": [SECRETS, PODS], "view": [PODS]},
            id="chained",
        ),
        pytest.param(
            [
                cluster_role(
                    "agg",
                    selectors=[
                        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
                    ],
                ),
                cluster_role("x", PODS, labels={"tier": "b"}),
                cluster_role("y", NODES, labels={"tier": "c"}),
            ],
            {"agg": [PODS]},
            id="match-expressions",
        ),
        pytest.param(
            [
                cluster_role(
                    "bad", PODS, selectors=[{"matchExpressions": [{"key": "k", "operator": "Near"}]}]
                ),
                cluster_role("plain", NODES),
            ],
            {},
            id="invalid-selector-skipped",
        ),
        pytest.param(
            [cluster_role("agg", PODS, selectors=[])],
            {"agg": []},
            id="no-selectors-no-rules",
        ),
    ],
)
def test_aggregate(roles: list[dict[str, Any]], expected: dict[str, list[dict[str, Any]]]) -> None:
    assert aggregate(roles) == expected


def test_bootstrap_admin_edit_view() -> None:
    rules = aggregate(cluster_roles())
    assert set(rules) == {"admin", "edit", "view"}
    # Each level holds every rule of the one below, in the same order, then its own.
    # edit = system:aggregate-to-edit's rules, then view's ("system:..." sorts before "view").
    assert rules["edit"][-len(rules["view"]) :] == rules["view"]
    assert all(r in rules["admin"] for r in rules["edit"])
    assert len(rules["admin"]) == len(rules["edit"]) + 2
    assert covers(rules["edit"], [rule("get", "core", "secrets")])
    assert not covers(rules["view"], [rule("get", "core", "secrets")])
    assert covers(rules["admin"], [rule("create", "rbac.authorization.k8s.io", "rolebindings")])
    assert not covers(rules["edit"], [rule("create", "rbac.authorization.k8s.io", "rolebindings")])
