"""The --authorization-mode chain: order, first allow wins, reasons add up."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.apiserver.authz.attributes import Attributes, Decision, forbidden_message
from kubeling.apiserver.authz.chain import AlwaysAllow, AlwaysDeny, Chain, build
from kubeling.apiserver.authz.memory import InMemoryLister
from kubeling.apiserver.authz.node import NodeAuthorizer
from kubeling.apiserver.authz.rbac import RBACAuthorizer, SuperuserAuthorizer

from .conftest import cluster_role, cluster_role_binding, request, rule, user


class NoPods:
    def pods_on_node(self, node: str) -> list[dict[str, Any]]:
        return []

    def claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None


LISTER = InMemoryLister(
    [
        cluster_role("secret-reader", rule("get", "core", "secrets")),
        cluster_role_binding("r", "secret-reader", user("reader")),
    ]
)


class Fixed:
    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.asked = 0

    def authorize(self, attrs: Attributes) -> Decision:
        self.asked += 1
        return self.decision


def test_build_orders_modes_and_prepends_superuser() -> None:
    chain = build(["Node", "RBAC"], LISTER, NoPods())
    assert [type(a) for a in chain.authorizers] == [SuperuserAuthorizer, NodeAuthorizer, RBACAuthorizer]
    assert [type(a) for a in build(["AlwaysAllow"]).authorizers] == [AlwaysAllow]
    assert [type(a) for a in build(["AlwaysDeny", "AlwaysAllow"]).authorizers] == [AlwaysDeny, AlwaysAllow]


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        pytest.param(["ABAC"], "unknown authorization mode 'ABAC'", id="unknown"),
        pytest.param(["RBAC"], "authorization mode RBAC needs an RBAC lister", id="rbac-without-lister"),
        pytest.param(["Node"], "authorization mode Node needs a pods lister", id="node-without-lister"),
    ],
)
def test_build_rejects(modes: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(modes)


@pytest.mark.parametrize(
    ("modes", "attrs", "expected"),
    [
        pytest.param(
            ["Node", "RBAC"],
            request("root", "delete", "nodes", name="n1", groups=("system:masters",)),
            Decision(True),
            id="masters-without-bindings",
        ),
        pytest.param(
            ["Node", "RBAC"],
            request("reader", "get", "secrets", "ns", name="s"),
            Decision(
                True,
                'RBAC: allowed by ClusterRoleBinding "r" of ClusterRole "secret-reader" to User "reader"',
            ),
            id="rbac-allows",
        ),
        pytest.param(
            ["Node", "RBAC"],
            request("system:node:n1", "get", "secrets", "ns", name="s", groups=("system:nodes",)),
            Decision(False, "no relationship found between node 'n1' and this object"),
            id="node-reason-kept",
        ),
        pytest.param(
            ["Node", "RBAC"],
            request("nobody", "get", "secrets", "ns", name="s"),
            Decision(False),
            id="no-reasons",
        ),
        pytest.param(["AlwaysAllow"], request("nobody", "get", path="/x"), Decision(True), id="always-allow"),
        pytest.param(
            ["AlwaysDeny"],
            request("nobody", "get", path="/x"),
            Decision(False, "Everything is forbidden."),
            id="deny",
        ),
        pytest.param(
            ["AlwaysDeny", "AlwaysAllow"],
            request("nobody", "get", path="/x"),
            Decision(True),
            id="deny-is-no-opinion",
        ),
        pytest.param(
            ["RBAC"],
            request("root", "get", path="/x", groups=("system:masters",)),
            Decision(True),
            id="masters-non-resource",
        ),
    ],
)
def test_chain_decisions(modes: list[str], attrs: Attributes, expected: Decision) -> None:
    assert build(modes, LISTER, NoPods()).authorize(attrs) == expected


def test_first_allow_stops_the_chain_and_reasons_join() -> None:
    first, second, third = (
        Fixed(Decision(False, "one")),
        Fixed(Decision(False, "")),
        Fixed(Decision(False, "three")),
    )
    assert Chain([first, second, third]).authorize(request("u", "get", "pods", "ns")) == Decision(
        False, "one\nthree"
    )
    allow, after = Fixed(Decision(True, "yes")), Fixed(Decision(True))
    assert Chain([first, allow, after]).authorize(request("u", "get", "pods", "ns")) == Decision(True, "yes")
    assert after.asked == 0


def test_refusal_message_for_a_node() -> None:
    attrs = request("system:node:n1", "get", "secrets", "ns", name="s", groups=("system:nodes",))
    decision = build(["Node", "RBAC"], LISTER, NoPods()).authorize(attrs)
    assert forbidden_message(attrs, decision.reason) == (
        'secrets "s" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" '
        "in the namespace \"ns\": no relationship found between node 'n1' and this object"
    )
