"""The bootstrap policy: well-formed objects that grant what each component needs, and reconciliation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeling.apiserver.authz.aggregation import aggregate
from kubeling.apiserver.authz.attributes import Attributes
from kubeling.apiserver.authz.bootstrap import (
    AUTOUPDATE,
    BOOTSTRAP_LABEL,
    bootstrap_objects,
    needs_recreate,
    reconcile,
)
from kubeling.apiserver.authz.memory import InMemoryLister
from kubeling.apiserver.authz.rbac import RBACAuthorizer

from .conftest import group, request, role_binding, rule, sa, user, with_ids

AUTH = ("system:authenticated",)
UNAUTH = ("system:unauthenticated",)
SA_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:kube-system", *AUTH)


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def test_objects_are_well_formed() -> None:
    objects = bootstrap_objects()
    keys = [_key(o) for o in objects]
    assert len(keys) == len(set(keys))
    for obj in objects:
        assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1"
        assert obj["metadata"]["labels"][BOOTSTRAP_LABEL] == "rbac-defaults"
        assert obj["metadata"]["annotations"] == {AUTOUPDATE: "true"}
        if obj["kind"] in ("Role", "RoleBinding"):
            assert obj["metadata"]["namespace"] in ("kube-system", "kube-public")
    # Every binding refers to a role that is part of the policy.
    present = set(keys)
    for obj in objects:
        if obj["kind"].endswith("Binding"):
            ref = obj["roleRef"]
            namespace = obj["metadata"].get("namespace", "") if ref["kind"] == "Role" else ""
            assert (ref["kind"], namespace, ref["name"]) in present, _key(obj)


def test_objects_are_fresh_copies() -> None:
    first = bootstrap_objects()
    first[0]["metadata"]["labels"]["x"] = "y"
    next(o for o in first if o["metadata"]["name"] == "system:node-proxier")["rules"].clear()
    second = bootstrap_objects()
    assert "x" not in second[0]["metadata"]["labels"]
    assert next(o for o in second if o["metadata"]["name"] == "system:node-proxier")["rules"]


def test_named_roles_and_bindings() -> None:
    by_key = {_key(o): o for o in bootstrap_objects()}
    for name in ("cluster-admin", "admin", "edit", "view", "system:discovery", "system:kube-scheduler"):
        assert ("ClusterRole", "", name) in by_key
    assert by_key[("ClusterRoleBinding", "", "system:controller:deployment-controller")]["subjects"] == [
        sa("kube-system", "deployment-controller")
    ]
    assert by_key[("ClusterRoleBinding", "", "kubeadm:cluster-admins")]["roleRef"]["name"] == "cluster-admin"
    assert by_key[("ClusterRoleBinding", "", "system:public-info-viewer")]["subjects"] == [
        group("system:authenticated"),
        group("system:unauthenticated"),
    ]
    assert by_key[("ClusterRole", "", "view")]["metadata"]["labels"] == {
        BOOTSTRAP_LABEL: "rbac-defaults",
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
    }
    assert by_key[("Role", "kube-public", "system:controller:bootstrap-signer")]["rules"][1] == rule(
        "update", "core", "configmaps", names="cluster-info"
    )


def _cluster() -> RBACAuthorizer:
    """The bootstrap policy after aggregation, plus users granted view/edit/admin in namespace dev."""
    objects = bootstrap_objects()
    rules = aggregate([o for o in objects if o["kind"] == "ClusterRole"])
    for obj in objects:
        if obj["kind"] == "ClusterRole" and obj["metadata"]["name"] in rules:
            obj["rules"] = rules[obj["metadata"]["name"]]
    objects += [
        role_binding("dev", "viewer", "ClusterRole", "view", user("viewer")),
        role_binding("dev", "editor", "ClusterRole", "edit", user("editor")),
        role_binding("dev", "boss", "ClusterRole", "admin", user("boss")),
    ]
    return RBACAuthorizer(InMemoryLister(objects))


CLUSTER = _cluster()


def controller(name: str) -> str:
    return f"system:serviceaccount:kube-system:{name}"


GRANTS = [
    # view / edit / admin through RoleBindings
    pytest.param(request("viewer", "list", "pods", "dev"), True, id="view-list-pods"),
    pytest.param(request("viewer", "get", "pods/log", "dev", name="p"), True, id="view-pod-logs"),
    pytest.param(request("viewer", "get", "secrets", "dev", name="s"), False, id="view-no-secrets"),
    pytest.param(request("viewer", "create", "pods", "dev"), False, id="view-no-create"),
    pytest.param(request("viewer", "list", "pods", "prod"), False, id="view-only-in-dev"),
    pytest.param(
        request("editor", "create", "deployments", "dev", group="apps"), True, id="edit-deployments"
    ),
    pytest.param(
        request("editor", "patch", "deployments/scale", "dev", group="apps", name="d"), True, id="edit-sc"
    ),
    pytest.param(request("editor", "get", "secrets", "dev", name="s"), True, id="edit-secrets"),
    pytest.param(request("editor", "create", "pods/exec", "dev", name="p"), True, id="edit-exec"),
    pytest.param(
        request("editor", "create", "rolebindings", "dev", group="rbac.authorization.k8s.io"), False
    ),
    pytest.param(request("boss", "create", "rolebindings", "dev", group="rbac.authorization.k8s.io"), True),
    pytest.param(request("boss", "delete", "namespaces", name="dev"), False, id="admin-not-cluster-scope"),
    # discovery and friends
    pytest.param(request("system:anonymous", "get", path="/healthz", groups=UNAUTH), True, id="anon-healthz"),
    pytest.param(request("system:anonymous", "get", path="/version", groups=UNAUTH), True, id="anon-version"),
    pytest.param(
        request("system:anonymous", "get", path="/api", groups=UNAUTH), False, id="anon-no-discovery"
    ),
    pytest.param(request("someone", "get", path="/apis/apps/v1", groups=AUTH), True, id="auth-discovery"),
    pytest.param(request("someone", "get", path="/openapi/v3", groups=AUTH), True, id="auth-openapi"),
    pytest.param(request("someone", "get", path="/metrics", groups=AUTH), False, id="auth-no-metrics"),
    pytest.param(
        request("someone", "create", "selfsubjectaccessreviews", group="authorization.k8s.io", groups=AUTH),
        True,
        id="basic-user-ssar",
    ),
    pytest.param(request("someone", "list", "pods", "dev", groups=AUTH), False, id="auth-nothing-else"),
    pytest.param(request("admin", "delete", "nodes", name="n", groups=("kubeadm:cluster-admins",)), True),
    pytest.param(
        request("root", "get", path="/logs", groups=("system:masters",)), True, id="cluster-admin-url"
    ),
    # scheduler
    pytest.param(request("system:kube-scheduler", "create", "pods/binding", "dev", name="p"), True),
    pytest.param(request("system:kube-scheduler", "list", "nodes"), True, id="scheduler-nodes"),
    pytest.param(request("system:kube-scheduler", "delete", "nodes", name="n"), False),
    pytest.param(
        request(
            "system:kube-scheduler",
            "update",
            "leases",
            "kube-system",
            group="coordination.k8s.io",
            name="kube-scheduler",
        ),
        True,
        id="scheduler-own-lease",
    ),
    pytest.param(
        request(
            "system:kube-scheduler",
            "update",
            "leases",
            "kube-node-lease",
            group="coordination.k8s.io",
            name="x",
        ),
        False,
        id="scheduler-other-lease",
    ),
    pytest.param(
        request("system:kube-scheduler", "patch", "persistentvolumes", name="pv"), True, id="vol-sched"
    ),
    # controller-manager and controllers
    pytest.param(request("system:kube-controller-manager", "watch", "widgets", group="example.com"), True),
    pytest.param(
        request("system:kube-controller-manager", "create", "serviceaccounts/token", "kube-system", name="x"),
        True,
    ),
    pytest.param(
        request(
            controller("deployment-controller"),
            "create",
            "replicasets",
            "dev",
            group="apps",
            groups=SA_GROUPS,
        ),
        True,
        id="deployment-controller-replicasets",
    ),
    pytest.param(
        request(
            controller("deployment-controller"),
            "update",
            "deployments/status",
            "dev",
            group="apps",
            name="d",
        ),
        True,
        id="deployment-controller-status",
    ),
    pytest.param(
        request(controller("deployment-controller"), "delete", "deployments", "dev", group="apps", name="d"),
        False,
        id="deployment-controller-no-delete",
    ),
    pytest.param(request(controller("replicaset-controller"), "create", "pods", "dev"), True),
    pytest.param(
        request(controller("replicaset-controller"), "create", "events", "dev", group="events.k8s.io"),
        True,
    ),
    pytest.param(
        request(
            controller("generic-garbage-collector"),
            "patch",
            "widgets",
            "dev",
            group="example.com",
            name="w",
        ),
        True,
        id="gc-patches-anything",
    ),
    pytest.param(
        request(controller("generic-garbage-collector"), "create", "widgets", "dev", group="example.com"),
        False,
        id="gc-no-create",
    ),
    pytest.param(request(controller("namespace-controller"), "deletecollection", "configmaps", "dev"), True),
    pytest.param(
        request(controller("namespace-controller"), "update", "namespaces/finalize", name="dev"), True
    ),
    pytest.param(
        request(controller("job-controller"), "update", "jobs/finalizers", "dev", group="batch", name="j"),
        True,
    ),
    pytest.param(
        request(
            controller("endpointslice-controller"),
            "create",
            "endpointslices",
            "dev",
            group="discovery.k8s.io",
        ),
        True,
    ),
    pytest.param(
        request(
            controller("horizontal-pod-autoscaler"),
            "update",
            "statefulsets/scale",
            "dev",
            group="apps",
            name="s",
        ),
        True,
    ),
    pytest.param(request(controller("job-controller"), "create", "deployments", "dev", group="apps"), False),
    pytest.param(
        request("system:serviceaccount:dev:job-controller", "create", "pods", "dev"),
        False,
        id="sa-wrong-ns",
    ),
    # node components
    pytest.param(request("system:kube-proxy", "watch", "endpointslices", group="discovery.k8s.io"), True),
    pytest.param(request("system:kube-proxy", "list", "secrets"), False, id="proxy-no-secrets"),
    pytest.param(
        request("system:node:n1", "get", "nodes", name="n1", groups=("system:nodes",)),
        False,
        id="node-no-rbac",
    ),
    pytest.param(
        request("system:serviceaccount:kube-system:kube-dns", "watch", "services", groups=SA_GROUPS), True
    ),
    # namespaced bootstrap roles
    pytest.param(
        request(
            "system:kube-controller-manager",
            "get",
            "configmaps",
            "kube-system",
            name="extension-apiserver-authentication",
        ),
        True,
        id="auth-reader",
    ),
    pytest.param(
        request(controller("bootstrap-signer"), "update", "configmaps", "kube-public", name="cluster-info"),
        True,
        id="bootstrap-signer-cluster-info",
    ),
    pytest.param(
        request(controller("bootstrap-signer"), "update", "configmaps", "kube-public", name="other"),
        False,
        id="bootstrap-signer-only-cluster-info",
    ),
]


@pytest.mark.parametrize(
    ("attrs", "expected"),
    with_ids(GRANTS),
)
def test_bootstrap_policy_grants(attrs: Attributes, expected: bool) -> None:
    assert CLUSTER.authorize(attrs).allowed is expected


# -- reconcile ------------------------------------------------------------------------


def _wanted(name: str, kind: str = "ClusterRole") -> dict[str, Any]:
    return next(o for o in bootstrap_objects() if _key(o) == (kind, "", name))


def _stored(obj: dict[str, Any]) -> dict[str, Any]:
    stored = copy.deepcopy(obj)
    stored["metadata"].update(uid="u1", resourceVersion="42")
    return stored


def test_reconcile_creates_missing_object() -> None:
    wanted = _wanted("system:node-proxier")
    created = reconcile(None, wanted)
    assert created == wanted and created is not wanted


def test_reconcile_is_a_no_op_when_up_to_date() -> None:
    for wanted in bootstrap_objects():
        assert reconcile(_stored(wanted), wanted) is None, _key(wanted)


def test_reconcile_adds_missing_rules_and_keeps_extra_ones() -> None:
    wanted = _wanted("system:node-proxier")
    stored = _stored(wanted)
    stored["rules"] = [
        rule("list watch get", "core", "endpoints services"),
        rule("get", "example.com", "gadgets"),
    ]
    updated = reconcile(stored, wanted)
    assert updated is not None
    assert updated["metadata"]["resourceVersion"] == "42"
    assert updated["rules"][:2] == stored["rules"]
    assert updated["rules"][2:] == [
        {"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]},
        {"verbs": ["list"], "apiGroups": [""], "resources": ["nodes"]},
        {"verbs": ["watch"], "apiGroups": [""], "resources": ["nodes"]},
        {"verbs": ["create"], "apiGroups": [""], "resources": ["events"]},
        {"verbs": ["patch"], "apiGroups": [""], "resources": ["events"]},
        {"verbs": ["update"], "apiGroups": [""], "resources": ["events"]},
        {"verbs": ["create"], "apiGroups": ["events.k8s.io"], "resources": ["events"]},
        {"verbs": ["patch"], "apiGroups": ["events.k8s.io"], "resources": ["events"]},
        {"verbs": ["update"], "apiGroups": ["events.k8s.io"], "resources": ["events"]},
        {"verbs": ["list"], "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]},
        {"verbs": ["watch"], "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]},
    ]
    assert reconcile(updated, wanted) is None


def test_reconcile_respects_autoupdate_false() -> None:
    wanted = _wanted("system:node-proxier")
    stored = _stored(wanted)
    stored["rules"] = []
    stored["metadata"]["annotations"][AUTOUPDATE] = "false"
    assert reconcile(stored, wanted) is None
    binding = _stored(_wanted("system:basic-user", "ClusterRoleBinding"))
    binding["subjects"] = []
    binding["metadata"]["annotations"][AUTOUPDATE] = "false"
    assert reconcile(binding, _wanted("system:basic-user", "ClusterRoleBinding")) is None


def test_reconcile_merges_labels_and_annotations_keeping_existing_values() -> None:
    wanted = _wanted("system:kube-dns")
    stored = _stored(wanted)
    stored["metadata"]["labels"] = {"team": "dns"}
    stored["metadata"]["annotations"] = {AUTOUPDATE: "yes-please", "note": "x"}
    updated = reconcile(stored, wanted)
    assert updated is not None
    assert updated["metadata"]["labels"] == {"team": "dns", BOOTSTRAP_LABEL: "rbac-defaults"}
    assert updated["metadata"]["annotations"] == {AUTOUPDATE: "yes-please", "note": "x"}
    assert updated["rules"] == wanted["rules"]


def test_reconcile_binding_adds_missing_subjects() -> None:
    wanted = _wanted("system:public-info-viewer", "ClusterRoleBinding")
    stored = _stored(wanted)
    stored["subjects"] = [user("extra"), group("system:unauthenticated")]
    updated = reconcile(stored, wanted)
    assert updated is not None
    assert updated["subjects"] == [
        user("extra"),
        group("system:unauthenticated"),
        group("system:authenticated"),
    ]
    assert reconcile(updated, wanted) is None


def test_reconcile_binding_with_other_role_is_recreated() -> None:
    wanted = _wanted("system:kube-dns", "ClusterRoleBinding")
    stored = _stored(wanted)
    stored["roleRef"] = {**stored["roleRef"], "name": "cluster-admin"}
    assert needs_recreate(stored, wanted)
    assert reconcile(stored, wanted) == wanted
    assert not needs_recreate(_stored(wanted), wanted)


def test_reconcile_aggregated_role() -> None:
    wanted = _wanted("admin")
    stored = _stored(wanted)
    # The aggregation controller filled the rules in: nothing is missing, nothing is removed.
    stored["rules"] = [rule("*", "*", "*")]
    assert reconcile(stored, wanted) is None
    stored["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"mine": "true"}}]}
    updated = reconcile(stored, wanted)
    assert updated is not None
    assert updated["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {"mine": "true"}},
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
    ]
    assert updated["rules"] == [rule("*", "*", "*")]
