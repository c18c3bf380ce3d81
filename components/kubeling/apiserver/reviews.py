"""Review APIs: questions about identity and permission, answered on the spot.

``authentication.k8s.io``: TokenReview (is this token valid, and whose is
it — what a kubelet asks before serving a request) and SelfSubjectReview
(``kubectl auth whoami``).  ``authorization.k8s.io``: SubjectAccessReview,
LocalSubjectAccessReview, SelfSubjectAccessReview (``kubectl auth can-i``)
and SelfSubjectRulesReview (``kubectl auth can-i --list``).  Nothing is
stored: the answer is the request with its status filled in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from kubeling.api import errors
from kubeling.api.resources import Resource
from kubeling.apiserver.authn import User
from kubeling.apiserver.objects import now_rfc3339

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

REVIEW_GROUPS = ("authentication.k8s.io", "authorization.k8s.io")


class Decision(Protocol):
    allowed: bool
    reason: str


def _user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = user.extra
    return info


def answer(server: APIServer, resource: Resource, namespace: str, body: Any, user: User) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request("the review must be an object")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    kind = resource.kind
    result: dict[str, Any] = {
        "kind": kind,
        "apiVersion": resource.api_version,
        "metadata": {**(body.get("metadata") or {}), "creationTimestamp": now_rfc3339()},
        "spec": spec,
    }
    if kind == "SelfSubjectReview":
        result["status"] = {"userInfo": _user_info(user)}
    elif kind == "TokenReview":
        result["status"] = _token_review(server, spec)
    elif kind == "SelfSubjectRulesReview":
        result["status"] = server.rules_review(user, spec.get("namespace") or "")
    else:
        if kind == "SelfSubjectAccessReview":
            subject = user
        else:
            groups = tuple(spec.get("groups") or ())
            subject = User(spec.get("user") or "", spec.get("uid") or "", groups, spec.get("extra") or {})
            if not subject.name and not groups:
                raise errors.invalid(
                    resource.group,
                    kind,
                    "",
                    [
                        errors.Cause(
                            "FieldValueRequired",
                            "Required value: at least one of user or group must be specified",
                            "spec.user",
                        )
                    ],
                )
        attributes = spec.get("resourceAttributes")
        local_mismatch = (
            not isinstance(attributes, dict) or attributes.get("namespace", namespace) != namespace
        )
        if kind == "LocalSubjectAccessReview" and local_mismatch:
            raise errors.invalid(
                resource.group,
                kind,
                "",
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        f"Invalid value: must match metadata.namespace {namespace!r}",
                        "spec.resourceAttributes.namespace",
                    )
                ],
            )
        decision = server.check_access(subject, spec)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        result["status"] = status
    return result


def _token_review(server: APIServer, spec: dict[str, Any]) -> dict[str, Any]:
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.invalid(
            "authentication.k8s.io",
            "TokenReview",
            "",
            [errors.Cause("FieldValueRequired", "Required value: token must be set", "spec.token")],
        )
    requested = [a for a in spec.get("audiences") or [] if isinstance(a, str)]
    try:
        user = server.authenticator.authenticate_token(token, requested or None)
    except errors.StatusError:
        return {"authenticated": False, "error": "invalid bearer token"}
    # Upstream answers with the audiences the token is good for among those asked about.
    audiences = requested or list(server.authenticator.api_audiences())
    return {"authenticated": True, "user": _user_info(user), "audiences": audiences}
