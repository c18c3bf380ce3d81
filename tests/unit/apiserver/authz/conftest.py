"""Builders of RBAC objects and request attributes for the authorization tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from kubeling.apiserver.authz.attributes import Attributes

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"


def rule(verbs: str, groups: str = "", resources: str = "", names: str = "", urls: str = "") -> Obj:
    """``rule("get list", "core apps", "pods")``; ``core`` is the legacy group ""."""
    out: Obj = {"verbs": verbs.split()}
    if resources:
        out["apiGroups"] = ["" if g == "core" else g for g in (groups or "core").split()]
        out["resources"] = resources.split()
    if names:
        out["resourceNames"] = names.split()
    if urls:
        out["nonResourceURLs"] = urls.split()
    return out


def user(name: str) -> Obj:
    return {"kind": "User", "apiGroup": RBAC, "name": name}


def group(name: str) -> Obj:
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def sa(namespace: str, name: str) -> Obj:
    subject = {"kind": "ServiceAccount", "name": name}
    if namespace:
        subject["namespace"] = namespace
    return subject


def role(namespace: str, name: str, *rules: Obj) -> Obj:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"namespace": namespace, "name": name},
        "rules": list(rules),
    }


def cluster_role(name: str, *rules: Obj, labels: dict[str, str] | None = None, selectors: Any = None) -> Obj:
    obj: Obj = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": list(rules),
    }
    if labels:
        obj["metadata"]["labels"] = labels
    if selectors is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": selectors}
    return obj


def role_binding(namespace: str, name: str, role_kind: str, role_name: str, *subjects: Obj) -> Obj:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"namespace": namespace, "name": name},
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": list(subjects),
    }


def cluster_role_binding(name: str, role_name: str, *subjects: Obj) -> Obj:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
        "subjects": list(subjects),
    }


def request(
    who: str,
    verb: str,
    resource: str = "",
    namespace: str = "",
    *,
    group: str = "",
    name: str = "",
    groups: tuple[str, ...] = ("system:authenticated",),
    path: str = "",
) -> Attributes:
    """A resource request (``resource`` may be ``pods/log``), or a non-resource one when ``path`` is set."""
    if path:
        return Attributes(user=who, groups=groups, verb=verb, path=path, is_resource_request=False)
    base, _, sub = resource.partition("/")
    return Attributes(
        user=who,
        groups=groups,
        verb=verb,
        namespace=namespace,
        api_group=group,
        resource=base,
        subresource=sub,
        name=name,
    )


def describe(attrs: Attributes) -> str:
    """A readable test id for a request: ``<user>-<verb>-<resource or path>[-<name>]``."""
    who = attrs.user.rsplit(":", 1)[-1]
    what = attrs.path or "/".join(filter(None, (attrs.resource, attrs.subresource)))
    return "-".join(filter(None, (who, attrs.verb, what, attrs.name)))


def with_ids(cases: Sequence[Any]) -> list[Any]:
    """Give each id-less ``pytest.param`` (first value an Attributes) an id from :func:`describe`."""
    return [case if case.id else pytest.param(*case.values, id=describe(case.values[0])) for case in cases]
