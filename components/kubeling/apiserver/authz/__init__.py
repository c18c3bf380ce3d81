"""Authorization: who may do what, as pure decisions over request attributes.

The apiserver turns a request into :class:`~.attributes.Attributes` (user,
groups, verb, resource or path) and asks a :class:`~.chain.Chain` of
authorizers, built from ``--authorization-mode`` by :func:`~.chain.build`:

* :class:`~.rbac.SuperuserAuthorizer` — members of ``system:masters`` may do anything;
* :class:`~.node.NodeAuthorizer` — kubelets reach only what their own pods need;
* :class:`~.rbac.RBACAuthorizer` — Roles, ClusterRoles and their bindings, read
  through a lister the apiserver implements over its watch cache.

Nothing here does I/O.  The bootstrap policy (:mod:`.bootstrap`), its
reconciliation at apiserver start, and ClusterRole aggregation
(:mod:`.aggregation`) are data plus pure functions that the apiserver and the
controller-manager apply through the API.  A 403 body's text comes from
:func:`~.attributes.forbidden_message`.
"""

from kubeling.apiserver.authz.attributes import (
    Attributes,
    Decision,
    forbidden_error,
    forbidden_message,
    new_forbidden,
)

__all__ = ["Attributes", "Decision", "forbidden_error", "forbidden_message", "new_forbidden"]
