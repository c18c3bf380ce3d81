"""The authorizer chain behind ``--authorization-mode``.

Modes are asked in order; the first that allows wins.  A refusal only means
"no opinion": the next mode is asked (upstream's union authorizer, where even
``AlwaysDeny`` merely has no opinion).  When nobody allows, the request is
refused with the non-empty reasons joined by newlines, as upstream joins them.

:func:`build` maps mode names to authorizers.  With RBAC on, the
``system:masters`` superuser check goes first, so cluster admins keep access
whatever the RBAC objects say.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeling.apiserver.authz.attributes import ALLOW, Attributes, Decision
from kubeling.apiserver.authz.node import NodeAuthorizer, PodsLister
from kubeling.apiserver.authz.rbac import Authorizer, Lister, RBACAuthorizer, SuperuserAuthorizer

MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")


class AlwaysAllow:
    def authorize(self, attrs: Attributes) -> Decision:
        return ALLOW


class AlwaysDeny:
    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(False, "Everything is forbidden.")


class Chain:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attrs: Attributes) -> Decision:
        reasons: list[str] = []
        for authorizer in self.authorizers:
            decision = authorizer.authorize(attrs)
            if decision.allowed:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision(False, "\n".join(reasons))


def build(modes: Sequence[str], lister: Lister | None = None, pods_lister: PodsLister | None = None) -> Chain:
    """A chain for ``--authorization-mode`` (e.g. ``["Node", "RBAC"]``); ValueError on an unknown mode."""
    authorizers: list[Authorizer] = []
    if "RBAC" in modes:
        authorizers.append(SuperuserAuthorizer())
    for mode in modes:
        if mode == "AlwaysAllow":
            authorizers.append(AlwaysAllow())
        elif mode == "AlwaysDeny":
            authorizers.append(AlwaysDeny())
        elif mode == "Node":
            if pods_lister is None:
                raise ValueError("authorization mode Node needs a pods lister")
            authorizers.append(NodeAuthorizer(pods_lister))
        elif mode == "RBAC":
            if lister is None:
                raise ValueError("authorization mode RBAC needs an RBAC lister")
            authorizers.append(RBACAuthorizer(lister))
        else:
            raise ValueError(f"unknown authorization mode {mode!r}; expected one of {', '.join(MODES)}")
    return Chain(authorizers)
