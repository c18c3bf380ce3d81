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
    head = f"User {user} cannot {attrs.verb} resource {go_repr(resource)} in API group {go_repr(attrs.api_group)}"
    if attrs.namespace:
        return f"{head} in the namespace {go_repr(attrs.namespace)}"
    return f"{head} at the cluster scope"


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """The ``message`` of the 403 Status for a refused request.

    ``pods "web" is forbidden: User "u" cannot create resource "pods/exec" in
    API group "" in the namespace "ns"``; a non-resource request reads
    ``forbidden: User "system:anonymous" cannot get path "/api/v1"``.  A
    non-empty ``reason`` from the authorizers is appended after ``": "``.
    """
    detail = _sentence(attrs)
    if reason:
        detail = f"{detail}: {reason}"
    if not attrs.resource and not attrs.api_group:
        return f"forbidden: {detail}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if attrs.name:
        return f"{qualified} {go_repr(attrs.name)} is forbidden: {detail}"
    return f"{qualified} is forbidden: {detail}"


def forbidden_error(attrs: Attributes, reason: str = "") -> errors.StatusError:
    """The whole 403 (``apierrors.NewForbidden``): message plus details name/group/kind."""
    details: dict[str, str] = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    if attrs.resource:
        details["kind"] = attrs.resource
    return errors.StatusError(403, "Forbidden", forbidden_message(attrs, reason), details)
