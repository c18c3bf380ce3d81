"""What a request asks for, what an authorizer answers, and the 403 text.

:class:`Attributes` mirrors upstream's ``authorizer.AttributesRecord``: a
resource request names a verb, API group, resource, subresource, namespace
and object name; any other request (``/healthz``, ``/api``...) names a verb
(the lower-cased HTTP method) and a path.

:class:`Decision` folds upstream's three outcomes into two: ``allowed`` or
not.  Upstream's authorizers almost never deny outright (they say "no
opinion" and let the next one try), so a refusal here always lets the chain
go on; its ``reason`` is what the 403 message appends.

:func:`forbidden_message` follows ``responsewriters.forbiddenMessage`` and
``apierrors.NewForbidden`` word for word: the qualified resource (group, no
subresource) and the object name prefix the sentence, Go's ``%q`` quotes
every value.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeling.api import errors
from kubeling.api.validation.common import go_repr


@dataclass(frozen=True)
class Attributes:
    user: str
    groups: tuple[str, ...]
    verb: str
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    is_resource_request: bool = True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)
NO_OPINION = Decision(False)


def _sentence(attrs: Attributes) -> str:
    """``forbiddenMessage``: the part after ``... is forbidden: ``."""
    user = go_repr(attrs.user)
    if not attrs.is_resource_request:
        return f"User {user} cannot {attrs.verb} path {go_repr(attrs.path)}"
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    group = go_repr(attrs.api_group)
    head = f"User {user} cannot {attrs.verb} resource {go_repr(resource)} in API group {group}"
    if attrs.namespace:
        return f"{head} in the namespace {go_repr(attrs.namespace)}"
    return f"{head} at the cluster scope"


def new_forbidden(group: str, resource: str, name: str, detail: str) -> errors.StatusError:
    """``apierrors.NewForbidden``: ``<resource>[.<group>] ["<name>"] is forbidden: <detail>``.

    Admission plugins (NodeRestriction) refuse with this too, the detail being their own sentence.
    """
    details: dict[str, str] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if resource:
        details["kind"] = resource
    if not resource and not group:
        message = f"forbidden: {detail}"
    else:
        qualified = f"{resource}.{group}" if group else resource
        message = (
            f"{qualified} {go_repr(name)} is forbidden: {detail}"
            if name
            else f"{qualified} is forbidden: {detail}"
        )
    return errors.StatusError(403, "Forbidden", message, details)


def forbidden_error(attrs: Attributes, reason: str = "") -> errors.StatusError:
    """The 403 for a request no authorizer allowed; ``reason`` is the chain's, appended after ``": "``.

    ``pods "web" is forbidden: User "u" cannot create resource "pods/exec" in
    API group "" in the namespace "ns"``; a non-resource request reads
    ``forbidden: User "system:anonymous" cannot get path "/api/v1"``.
    """
    detail = _sentence(attrs)
    if reason:
        detail = f"{detail}: {reason}"
    return new_forbidden(attrs.api_group, attrs.resource, attrs.name, detail)


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """The ``message`` of :func:`forbidden_error`."""
    return forbidden_error(attrs, reason).message
