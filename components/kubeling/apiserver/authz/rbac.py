"""RBAC: Roles, ClusterRoles and their bindings decide, as upstream's RBAC authorizer does.

A request is allowed when some rule reachable from a binding that names the
user allows it.  Rules are visited in upstream's order (which fixes the
binding an allow reason names):

1. every ClusterRoleBinding whose subjects include the user → its
   ClusterRole's rules, valid in every namespace and at cluster scope;
2. when the request has a namespace, every RoleBinding in that namespace
   naming the user → its Role (same namespace) or ClusterRole, valid in that
   namespace only.

A subject names the user when it is the ``User`` of that name, a ``Group``
the user is in, or the ``ServiceAccount`` whose username
``system:serviceaccount:<ns>:<name>`` the user has (a RoleBinding's
ServiceAccount subject without a namespace means the binding's namespace).

Bindings and roles come from a :class:`Lister` that the apiserver implements
over its watch cache; a binding to a role that does not exist is skipped and
reported in the refusal reason (``RBAC: clusterroles.rbac.authorization.k8s.io
"x" not found``), like upstream.  RBAC never denies outright: without a match
it has no opinion and the chain goes on.

:class:`SuperuserAuthorizer` is upstream's privileged-group authorizer: any
member of ``system:masters`` is allowed, whatever RBAC says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kubeling.api.validation.common import go_repr
from kubeling.apiserver.authz.attributes import ALLOW, NO_OPINION, Attributes, Decision
from kubeling.apiserver.authz.rules import normalize, rule_allows

SUPERUSER_GROUP = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


class Lister(Protocol):
    """Read access to RBAC objects (JSON dicts), e.g. over the apiserver's watch cache."""

    def cluster_roles(self) -> list[dict[str, Any]]: ...
    def cluster_role_bindings(self) -> list[dict[str, Any]]: ...
    def roles(self, namespace: str) -> list[dict[str, Any]]: ...
    def role_bindings(self, namespace: str) -> list[dict[str, Any]]: ...
    def get_role(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def get_cluster_role(self, name: str) -> dict[str, Any] | None: ...


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> Decision: ...


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def subject_matches(subject: Mapping[str, Any], user: str, groups: Sequence[str], namespace: str) -> bool:
    """``appliesToUser``; ``namespace`` is the binding's ("" for a ClusterRoleBinding)."""
    kind, name = subject.get("kind"), subject.get("name") or ""
    if kind == "User":
        return user == name
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user == service_account_username(sa_namespace, name)
    return False


def describe_subject(subject: Mapping[str, Any], namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f"{kind} {go_repr(name + '/' + (subject.get('namespace') or namespace))}"
    return f"{kind} {go_repr(name)}"


@dataclass(frozen=True)
class Source:
    """Which binding (and subject in it) brought a rule: the text of an allow reason."""

    binding: Mapping[str, Any]
    subject: Mapping[str, Any]

    def __str__(self) -> str:
        meta = self.binding.get("metadata") or {}
        ref = self.binding.get("roleRef") or {}
        namespace = meta.get("namespace") or ""
        role = f"{ref.get('kind', '')} {go_repr(ref.get('name', ''))}"
        if namespace:
            name = go_repr(f"{meta.get('name', '')}/{namespace}")
            return f"RoleBinding {name} of {role} to {describe_subject(self.subject, namespace)}"
        name = go_repr(meta.get("name", ""))
        return f"ClusterRoleBinding {name} of {role} to {describe_subject(self.subject, '')}"


class RBACAuthorizer:
    """Authorizes requests against the RBAC objects a :class:`Lister` returns."""

    def __init__(self, lister: Lister) -> None:
        self._lister = lister

    def _role_rules(self, ref: Mapping[str, Any], namespace: str) -> list[dict[str, Any]]:
        """``GetRoleReferenceRules``; raises LookupError for a missing role or an unknown kind."""
        kind, name = ref.get("kind"), ref.get("name") or ""
        if kind == "ClusterRole":
            role = self._lister.get_cluster_role(name)
            if role is None:
                raise LookupError(f'clusterroles.rbac.authorization.k8s.io "{name}" not found')
        elif kind == "Role":
            role = self._lister.get_role(namespace, name) if namespace else None
            if role is None:
                raise LookupError(f'roles.rbac.authorization.k8s.io "{name}" not found')
        else:
            raise LookupError(f"unsupported role reference kind: {go_repr(kind or '')}")
        return list(role.get("rules") or [])

    def visit_rules(
        self, user: str, groups: Sequence[str], namespace: str
    ) -> Iterator[tuple[Source | None, dict[str, Any] | None, str]]:
        """``VisitRulesFor``: (source, rule, "") per rule reached, (None, None, error) per broken binding."""
        scopes: list[tuple[list[dict[str, Any]], str]] = [(self._lister.cluster_role_bindings(), "")]
        if namespace:
            scopes.append((self._lister.role_bindings(namespace), namespace))
        for bindings, binding_namespace in scopes:
            for binding in bindings:
                subject = next(
                    (
                        s
                        for s in binding.get("subjects") or []
                        if subject_matches(s, user, groups, binding_namespace)
                    ),
                    None,
                )
                if subject is None:
                    continue
                try:
                    rules = self._role_rules(binding.get("roleRef") or {}, binding_namespace)
                except LookupError as exc:
                    yield None, None, str(exc)
                    continue
                source = Source(binding, subject)
                for rule in rules:
                    yield source, rule, ""

    def authorize(self, attrs: Attributes) -> Decision:
        problems: list[str] = []
        for source, rule, error in self.visit_rules(attrs.user, attrs.groups, attrs.namespace):
            if error:
                problems.append(error)
            elif source is not None and rule is not None and rule_allows(attrs, rule):
                return Decision(True, f"RBAC: allowed by {source}")
        if not problems:
            return NO_OPINION
        # utilerrors.NewAggregate: one error alone, several in brackets.
        joined = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        return Decision(False, f"RBAC: {joined}")

    def rules_for(
        self, user: str, groups: Sequence[str], namespace: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rules a user has in ``namespace``, shaped for a SelfSubjectRulesReview status.

        Returns (``resourceRules``, ``nonResourceRules``): ``{verbs, apiGroups,
        resources, resourceNames}`` and ``{verbs, nonResourceURLs}`` dicts, in
        visiting order, empty lists left out like the API's ``omitempty``.
        """
        resource_rules: list[dict[str, Any]] = []
        non_resource_rules: list[dict[str, Any]] = []
        for _source, rule, _error in self.visit_rules(user, groups, namespace):
            if rule is None:
                continue
            clean = normalize(rule)
            verbs = clean.get("verbs", [])
            if clean.get("resources"):
                entry: dict[str, Any] = {"verbs": verbs}
                for key in ("apiGroups", "resources", "resourceNames"):
                    if key in clean:
                        entry[key] = clean[key]
                resource_rules.append(entry)
            if clean.get("nonResourceURLs"):
                non_resource_rules.append({"verbs": verbs, "nonResourceURLs": clean["nonResourceURLs"]})
        return resource_rules, non_resource_rules

    def rules_errors(self, user: str, groups: Sequence[str], namespace: str) -> list[str]:
        """Bindings that could not be resolved, for SelfSubjectRulesReview's ``evaluationError``."""
        return [error for _source, _rule, error in self.visit_rules(user, groups, namespace) if error]


class SuperuserAuthorizer:
    """Members of ``system:masters`` may do anything (upstream's privileged-group authorizer)."""

    def __init__(self, groups: Sequence[str] = (SUPERUSER_GROUP,)) -> None:
        self._groups = frozenset(groups)

    def authorize(self, attrs: Attributes) -> Decision:
        return ALLOW if self._groups.intersection(attrs.groups) else NO_OPINION
