"""NodeRestriction: a kubelet may only write its own Node, Lease and pods.

The rules live in :func:`kubeling.apiserver.authz.node.node_restriction`
(shared with the Node authorizer); this adapter runs them as a validating
admission plugin, after the object is final.
"""

from __future__ import annotations

from kubeling.apiserver.admission.interface import Attributes
from kubeling.apiserver.authz.attributes import new_forbidden
from kubeling.apiserver.authz.node import node_restriction

_VERBS = {"CREATE": "create", "UPDATE": "update", "DELETE": "delete"}


class NodeRestriction:
    name = "NodeRestriction"

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        # Deletes carry no new object, so they are checked in the mutating pass.
        if attrs.operation == "DELETE":
            self._check(attrs, None, old)

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        if attrs.operation in ("CREATE", "UPDATE"):
            self._check(attrs, obj, old)

    def _check(self, attrs: Attributes, obj: dict | None, old: dict | None) -> None:
        resource = attrs.resource.plural + (f"/{attrs.subresource}" if attrs.subresource else "")
        problem = node_restriction(attrs.user, attrs.groups, _VERBS[attrs.operation], resource, obj, old)
        if problem:
            raise new_forbidden(attrs.resource.group, attrs.resource.plural, attrs.name, problem)
