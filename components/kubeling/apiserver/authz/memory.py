"""An in-memory RBAC lister: the same reads the apiserver serves from its watch cache.

Used by tests and by anything that evaluates a fixed set of objects (the
bootstrap policy before the first watch event, a dry run).  Objects are the
JSON dicts of Role, ClusterRole, RoleBinding and ClusterRoleBinding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class InMemoryLister:
    def __init__(self, objects: Iterable[dict[str, Any]] = ()) -> None:
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for obj in objects:
            self.put(obj)

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
        meta = obj.get("metadata") or {}
        return obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")

    def put(self, obj: dict[str, Any]) -> None:
        self._objects[self._key(obj)] = obj

    def delete(self, obj: dict[str, Any]) -> None:
        self._objects.pop(self._key(obj), None)

    def _of(self, kind: str, namespace: str = "") -> list[dict[str, Any]]:
        return [o for (k, ns, _), o in sorted(self._objects.items()) if k == kind and ns == namespace]

    def cluster_roles(self) -> list[dict[str, Any]]:
        return self._of("ClusterRole")

    def cluster_role_bindings(self) -> list[dict[str, Any]]:
        return self._of("ClusterRoleBinding")

    def roles(self, namespace: str) -> list[dict[str, Any]]:
        return self._of("Role", namespace)

    def role_bindings(self, namespace: str) -> list[dict[str, Any]]:
        return self._of("RoleBinding", namespace)

    def get_role(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(("Role", namespace, name))

    def get_cluster_role(self, name: str) -> dict[str, Any] | None:
        return self._objects.get(("ClusterRole", "", name))
