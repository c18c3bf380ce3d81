"""Authorization inside the apiserver: listers over the watch cache, the
bootstrap policy, and ClusterRole aggregation.

At start the apiserver reconciles upstream's bootstrap roles and bindings
(create what is missing, add missing rules/subjects unless an object says
``rbac.authorization.kubernetes.io/autoupdate: "false"``), then keeps every
aggregated ClusterRole's rules equal to the union of the roles its selectors
pick — the clusterrole-aggregation controller's job, done here so admin/edit/
view grant something even before a controller-manager runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kubeling.api import errors
from kubeling.apiserver.authz.aggregation import aggregate
from kubeling.apiserver.authz.bootstrap import bootstrap_objects, needs_recreate, reconcile
from kubeling.apiserver.store import DeleteOptions, WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)
RBAC = "rbac.authorization.k8s.io"
_PLURALS = {
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
}


class CacheRBACLister:
    def __init__(self, server: APIServer) -> None:
        self._server = server

    def _list(self, plural: str, namespace: str = "") -> list[dict[str, Any]]:
        return self._server.store(RBAC, "v1", plural).snapshot(namespace)

    def cluster_roles(self) -> list[dict[str, Any]]:
        return self._list("clusterroles")

    def cluster_role_bindings(self) -> list[dict[str, Any]]:
        return self._list("clusterrolebindings")

    def roles(self, namespace: str) -> list[dict[str, Any]]:
        return self._list("roles", namespace)

    def role_bindings(self, namespace: str) -> list[dict[str, Any]]:
        return self._list("rolebindings", namespace)

    def get_role(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._server.lookup(RBAC, "roles", namespace, name)

    def get_cluster_role(self, name: str) -> dict[str, Any] | None:
        return self._server.lookup(RBAC, "clusterroles", "", name)


class CachePodsLister:
    def __init__(self, server: APIServer) -> None:
        self._server = server

    def pods_on_node(self, node: str) -> list[dict[str, Any]]:
        pods = self._server.store("", "v1", "pods").snapshot("")
        return [p for p in pods if (p.get("spec") or {}).get("nodeName") == node]

    def claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._server.lookup("", "persistentvolumeclaims", namespace, name)


_CTX = WriteContext(user="system:apiserver", groups=("system:masters",), field_manager="kube-apiserver")


async def ensure_bootstrap_policy(server: APIServer) -> None:
    for wanted in bootstrap_objects():
        store = server.store(RBAC, "v1", _PLURALS[wanted["kind"]])
        meta = wanted["metadata"]
        namespace = meta.get("namespace", "")
        try:
            existing = await store.get(namespace, meta["name"])
        except errors.StatusError:
            existing = None
        try:
            if existing is not None and needs_recreate(existing, wanted):
                await store.delete(namespace, meta["name"], DeleteOptions(), _CTX)
                existing = None
            desired = reconcile(existing, wanted)
            if desired is None:
                continue
            if existing is None:
                await store.create(namespace, desired, _CTX)
            else:
                await store.update(namespace, meta["name"], desired, _CTX)
        except errors.StatusError as exc:
            if exc.code != 409:  # another apiserver got there first
                raise


async def aggregate_once(server: APIServer) -> None:
    store = server.store(RBAC, "v1", "clusterroles")
    roles = store.snapshot("")
    by_name = {r["metadata"]["name"]: r for r in roles}
    for name, rules in aggregate(roles).items():
        current = by_name.get(name)
        if current is None or (current.get("rules") or []) == rules:
            continue

        def set_rules(obj: dict[str, Any], rules: list[dict[str, Any]] = rules) -> dict[str, Any]:
            obj["rules"] = rules
            obj["metadata"]["resourceVersion"] = ""
            return obj

        try:
            await store.guaranteed_update("", name, set_rules, _CTX)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise


async def aggregation_loop(server: APIServer) -> None:
    """Re-aggregate whenever a ClusterRole changes."""
    store = server.store(RBAC, "v1", "clusterroles")
    while True:
        watcher = store.watch("", matches=lambda _o: True, since=None)
        try:
            await aggregate_once(server)
            while True:
                item = await watcher.queue.get()
                if item is None:
                    break
                # Coalesce a burst of changes into one pass.
                await asyncio.sleep(0.05)
                while not watcher.queue.empty():
                    if watcher.queue.get_nowait() is None:
                        break
                await aggregate_once(server)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ClusterRole aggregation failed; retrying")
            await asyncio.sleep(1)
        finally:
            server.cache.forget(watcher)  # type: ignore[union-attr]
