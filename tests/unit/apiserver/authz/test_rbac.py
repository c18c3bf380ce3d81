"""RBAC evaluation: subjects, scopes, rule matching, reasons and rules_for."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.apiserver.authz.attributes import Attributes, Decision
from kubeling.apiserver.authz.memory import InMemoryLister
from kubeling.apiserver.authz.rbac import RBACAuthorizer, SuperuserAuthorizer

from .conftest import (
    cluster_role,
    cluster_role_binding,
    group,
    request,
    role,
    role_binding,
    rule,
    sa,
    user,
)

SA = "system:serviceaccount:ns:sa"


def allowed(objects: list[dict[str, Any]], attrs: Attributes) -> bool:
    return RBACAuthorizer(InMemoryLister(objects)).authorize(attrs).allowed


def test_service_account_gains_pod_list_through_role_binding() -> None:
    lister = InMemoryLister()
    rbac = RBACAuthorizer(lister)
    list_pods = request(SA, "list", "pods", "ns")
    assert rbac.authorize(list_pods) == Decision(False, "")

    lister.put(role("ns", "pod-reader", rule("get list watch", "core", "pods")))
    lister.put(role_binding("ns", "read-pods", "Role", "pod-reader", sa("ns", "sa")))

    assert rbac.authorize(list_pods) == Decision(
        True, 'RBAC: allowed by RoleBinding "read-pods/ns" of Role "pod-reader" to ServiceAccount "sa/ns"'
    )
    assert not rbac.authorize(request(SA, "get", "secrets", "ns", name="token")).allowed
    assert not rbac.authorize(request(SA, "list", "pods", "other")).allowed
    assert not rbac.authorize(request(SA, "list", "pods")).allowed, "all namespaces needs a cluster binding"
    assert not rbac.authorize(request("system:serviceaccount:other:sa", "list", "pods", "ns")).allowed


def _grant(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [cluster_role("r", *rules), cluster_role_binding("b", "r", user("alice"))]


@pytest.mark.parametrize(
    ("rules", "attrs", "expected"),
    [
        pytest.param([rule("get", "core", "pods")], request("alice", "get", "pods", "ns"), True, id="exact"),
        pytest.param(
            [rule("get", "core", "pods")], request("alice", "list", "pods", "ns"), False, id="other-verb"
        ),
        pytest.param(
            [rule("*", "core", "pods")], request("alice", "escalate", "pods", "ns"), True, id="verb-star"
        ),
        pytest.param(
            [rule("get", "core", "pods")],
            request("alice", "get", "deployments", "ns", group="apps"),
            False,
            id="group",
        ),
        pytest.param(
            [rule("get", "*", "deployments")],
            request("alice", "get", "deployments", group="apps"),
            True,
            id="group-*",
        ),
        pytest.param(
            [rule("get", "core", "*")], request("alice", "get", "pods/log", "ns"), True, id="resource-*-sub"
        ),
        pytest.param(
            [rule("get", "core", "pods")], request("alice", "get", "pods/log", "ns"), False, id="no-sub"
        ),
        pytest.param(
            [rule("get", "core", "pods/log")], request("alice", "get", "pods/log", "ns"), True, id="sub"
        ),
        pytest.param(
            [rule("get", "core", "pods/log")], request("alice", "get", "pods", "ns"), False, id="sub-only"
        ),
        pytest.param(
            [rule("get", "*", "*/scale")],
            request("alice", "get", "deployments/scale", "ns", group="apps"),
            True,
            id="star-slash-sub",
        ),
        pytest.param(
            [rule("get", "*", "*/scale")],
            request("alice", "get", "deployments", "ns", group="apps"),
            False,
            id="star-slash-sub-not-parent",
        ),
        pytest.param(
            [rule("get", "core", "pods/*")],
            request("alice", "get", "pods/log", "ns"),
            False,
            id="res-slash-star-literal",
        ),
        pytest.param(
            [rule("get", "core", "pods", names="web")],
            request("alice", "get", "pods", "ns", name="web"),
            True,
            id="resource-name",
        ),
        pytest.param(
            [rule("get", "core", "pods", names="web")],
            request("alice", "get", "pods", "ns", name="db"),
            False,
            id="resource-name-other",
        ),
        pytest.param(
            [rule("list create", "core", "pods", names="web")],
            request("alice", "list", "pods", "ns"),
            False,
            id="resource-name-list",
        ),
        pytest.param(
            [rule("update", "core", "pods/status", names="web")],
            request("alice", "update", "pods/status", "ns", name="web"),
            True,
            id="resource-name-subresource",
        ),
        pytest.param(
            [rule("get", urls="/healthz")], request("alice", "get", path="/healthz"), True, id="url"
        ),
        pytest.param(
            [rule("get", urls="/healthz")], request("alice", "get", path="/healthz/etcd"), False, id="url-2"
        ),
        pytest.param(
            [rule("get", urls="/healthz/*")], request("alice", "get", path="/healthz/etcd"), True, id="url-*"
        ),
        pytest.param(
            [rule("get", urls="/healthz/*")], request("alice", "get", path="/healthz"), False, id="url-*-2"
        ),
        pytest.param(
            [rule("get", urls="/api*")], request("alice", "get", path="/apis/apps"), True, id="url-prefix"
        ),
        pytest.param([rule("get", urls="*")], request("alice", "get", path="/anything"), True, id="url-star"),
        pytest.param(
            [rule("get", urls="/healthz")], request("alice", "post", path="/healthz"), False, id="url-verb"
        ),
        pytest.param(
            [rule("*", "*", "*")], request("alice", "get", path="/healthz"), False, id="res-rule-no-url"
        ),
        pytest.param(
            [rule("*", urls="*")], request("alice", "get", "pods", "ns"), False, id="url-rule-no-resource"
        ),
    ],
)
def test_rule_matching(rules: list[dict[str, Any]], attrs: Attributes, expected: bool) -> None:
    assert allowed(_grant(*rules), attrs) is expected


SCOPES = [
    cluster_role("pod-reader", rule("get list", "core", "pods")),
    cluster_role("node-reader", rule("get list", "core", "nodes")),
    role("team", "local-reader", rule("get list", "core", "configmaps")),
    cluster_role_binding("everywhere", "pod-reader", user("global")),
    role_binding("team", "here", "ClusterRole", "pod-reader", user("local")),
    role_binding("team", "nodes-here", "ClusterRole", "node-reader", user("local")),
    role_binding("team", "cm", "Role", "local-reader", user("local")),
    # A Role reference resolves in the binding's namespace: team's Role is invisible from "other".
    role_binding("other", "cm", "Role", "local-reader", user("elsewhere")),
]


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        pytest.param(request("global", "list", "pods", "team"), True, id="crb-in-team"),
        pytest.param(request("global", "list", "pods", "other"), True, id="crb-in-other"),
        pytest.param(request("global", "list", "pods"), True, id="crb-all-namespaces"),
        pytest.param(request("local", "list", "pods", "team"), True, id="rb-clusterrole-own-ns"),
        pytest.param(request("local", "list", "pods", "other"), False, id="rb-clusterrole-other-ns"),
        pytest.param(request("local", "list", "pods"), False, id="rb-not-all-namespaces"),
        pytest.param(request("local", "list", "nodes"), False, id="rb-never-cluster-scoped"),
        pytest.param(request("local", "get", "configmaps", "team", name="x"), True, id="rb-role"),
        pytest.param(request("elsewhere", "get", "configmaps", "other", name="x"), False, id="role-other-ns"),
    ],
)
def test_binding_scope(attrs: Attributes, expected: bool) -> None:
    assert allowed(SCOPES, attrs) is expected


@pytest.mark.parametrize(
    ("binding", "who", "groups", "expected"),
    [
        pytest.param(role_binding("ns", "b", "Role", "r", user("bob")), "bob", (), True, id="user"),
        pytest.param(role_binding("ns", "b", "Role", "r", user("bob")), "bobby", (), False, id="user-other"),
        pytest.param(role_binding("ns", "b", "Role", "r", group("devs")), "x", ("devs",), True, id="group"),
        pytest.param(
            role_binding("ns", "b", "Role", "r", group("devs")), "devs", (), False, id="group-not-user"
        ),
        pytest.param(
            role_binding("ns", "b", "Role", "r", sa("ns", "sa")),
            SA,
            ("system:serviceaccounts",),
            True,
            id="sa",
        ),
        pytest.param(
            role_binding("ns", "b", "Role", "r", sa("", "sa")),
            SA,
            (),
            True,
            id="sa-defaults-to-binding-namespace",
        ),
        pytest.param(
            role_binding("ns", "b", "Role", "r", sa("kube-system", "sa")),
            SA,
            (),
            False,
            id="sa-other-namespace",
        ),
        pytest.param(
            role_binding("ns", "b", "Role", "r", group("system:serviceaccounts:ns")),
            SA,
            ("system:serviceaccounts", "system:serviceaccounts:ns"),
            True,
            id="sa-group",
        ),
        pytest.param(
            role_binding("ns", "b", "Role", "r", {"kind": "Robot", "name": "bob"}),
            "bob",
            (),
            False,
            id="bad-kind",
        ),
    ],
)
def test_subjects(binding: dict[str, Any], who: str, groups: tuple[str, ...], expected: bool) -> None:
    objects = [role("ns", "r", rule("get", "core", "pods")), binding]
    assert allowed(objects, request(who, "get", "pods", "ns", name="p", groups=groups)) is expected


def test_cluster_binding_service_account_needs_namespace() -> None:
    objects = [cluster_role("r", rule("get", "core", "pods")), cluster_role_binding("b", "r", sa("", "sa"))]
    assert not allowed(objects, request(SA, "get", "pods", "ns", name="p"))


@pytest.mark.parametrize(
    ("objects", "attrs", "reason"),
    [
        pytest.param(
            [cluster_role("view", rule("get", "core", "pods")), cluster_role_binding("x", "view", user("z"))],
            request("z", "get", "pods", "ns", name="p"),
            'RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to User "z"',
            id="crb-user",
        ),
        pytest.param(
            [
                cluster_role("view", rule("get", "core", "pods")),
                cluster_role_binding("x", "view", group("g")),
            ],
            request("z", "get", "pods", "ns", name="p", groups=("g",)),
            'RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to Group "g"',
            id="crb-group",
        ),
        pytest.param(
            [
                cluster_role("view", rule("get", "core", "pods")),
                cluster_role_binding("x", "view", sa("ns", "sa")),
            ],
            request(SA, "get", "pods", "ns", name="p"),
            'RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to ServiceAccount "sa/ns"',
            id="crb-sa",
        ),
        pytest.param(
            [
                cluster_role("view", rule("get", "core", "pods")),
                role_binding("ns", "y", "ClusterRole", "view", user("nobody"), user("z")),
            ],
            request("z", "get", "pods", "ns", name="p"),
            'RBAC: allowed by RoleBinding "y/ns" of ClusterRole "view" to User "z"',
            id="rb-clusterrole-second-subject",
        ),
    ],
)
def test_allow_reason_names_binding(objects: list[dict[str, Any]], attrs: Attributes, reason: str) -> None:
    assert RBACAuthorizer(InMemoryLister(objects)).authorize(attrs) == Decision(True, reason)


def test_cluster_bindings_are_visited_before_role_bindings() -> None:
    objects = [
        cluster_role("view", rule("get", "core", "pods")),
        role_binding("ns", "a-local", "ClusterRole", "view", user("z")),
        cluster_role_binding("z-global", "view", user("z")),
    ]
    decision = RBACAuthorizer(InMemoryLister(objects)).authorize(request("z", "get", "pods", "ns", name="p"))
    assert (
        decision.reason == 'RBAC: allowed by ClusterRoleBinding "z-global" of ClusterRole "view" to User "z"'
    )


@pytest.mark.parametrize(
    ("objects", "reason"),
    [
        pytest.param(
            [cluster_role_binding("b", "gone", user("z"))],
            'RBAC: clusterroles.rbac.authorization.k8s.io "gone" not found',
            id="missing-clusterrole",
        ),
        pytest.param(
            [role_binding("ns", "b", "Role", "gone", user("z"))],
            'RBAC: roles.rbac.authorization.k8s.io "gone" not found',
            id="missing-role",
        ),
        pytest.param(
            [
                cluster_role_binding("b", "gone", user("z")),
                role_binding("ns", "b", "Role", "gone2", user("z")),
            ],
            'RBAC: [clusterroles.rbac.authorization.k8s.io "gone" not found, '
            'roles.rbac.authorization.k8s.io "gone2" not found]',
            id="several",
        ),
        pytest.param([cluster_role_binding("b", "gone", user("other"))], "", id="not-my-binding"),
    ],
)
def test_broken_bindings_are_reported(objects: list[dict[str, Any]], reason: str) -> None:
    decision = RBACAuthorizer(InMemoryLister(objects)).authorize(request("z", "get", "pods", "ns", name="p"))
    assert decision == Decision(False, reason)


def test_broken_binding_does_not_hide_a_working_one() -> None:
    objects = [
        cluster_role_binding("a-broken", "gone", user("z")),
        cluster_role("view", rule("get", "core", "pods")),
        cluster_role_binding("b-good", "view", user("z")),
    ]
    assert allowed(objects, request("z", "get", "pods", "ns", name="p"))


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        pytest.param(("system:masters",), Decision(True, ""), id="masters"),
        pytest.param(
            ("system:authenticated", "system:masters"), Decision(True, ""), id="masters-among-others"
        ),
        pytest.param(("system:authenticated",), Decision(False, ""), id="not-masters"),
    ],
)
def test_superuser(groups: tuple[str, ...], expected: Decision) -> None:
    attrs = request("root", "delete", "nodes", name="n1", groups=groups)
    assert SuperuserAuthorizer().authorize(attrs) == expected


def test_rules_for() -> None:
    objects = [
        cluster_role(
            "basic",
            rule("create", "authorization.k8s.io", "selfsubjectrulesreviews"),
            rule("get", urls="/api /api/*"),
        ),
        cluster_role_binding("basic", "basic", group("system:authenticated")),
        role("ns", "cm", rule("get", "core", "configmaps", names="settings")),
        role_binding("ns", "cm", "Role", "cm", user("z")),
        role_binding("other", "cm", "Role", "cm", user("z")),
        cluster_role_binding("broken", "gone", user("z")),
    ]
    rbac = RBACAuthorizer(InMemoryLister(objects))
    resource_rules, non_resource_rules = rbac.rules_for("z", ("system:authenticated",), "ns")
    assert resource_rules == [
        {
            "verbs": ["create"],
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectrulesreviews"],
        },
        {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"]},
    ]
    assert non_resource_rules == [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*"]}]
    assert rbac.rules_errors("z", ("system:authenticated",), "ns") == [
        'clusterroles.rbac.authorization.k8s.io "gone" not found'
    ]
    assert rbac.rules_for("nobody", (), "ns") == ([], [])
