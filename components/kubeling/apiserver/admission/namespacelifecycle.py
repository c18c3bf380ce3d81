"""NamespaceLifecycle: no new content in missing or terminating namespaces.

Upstream runs this check in the mutating phase, first of all plugins, so a
request into a missing namespace is answered 404 before any other plugin
looks up objects there; :meth:`NamespaceLifecycle.admit` is that entry
point and :meth:`validate` runs the same check for a chain that wants it
among the validators.

- Deleting ``default``, ``kube-system`` or ``kube-public`` is forbidden.
- Namespaces themselves, cluster-scoped objects and deletes always pass.
- Any other request needs its namespace to exist (404 otherwise); a create
  also needs it not to be Terminating (403 with a NamespaceTerminating cause).

The namespace comes from the watch cache; when the cache misses it (a
namespace created a moment ago) or a delete of it passed here recently (the
cache may still say Active), ``fetch_namespace`` asks storage directly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from kubeling.api import errors
from kubeling.apiserver.admission.common import forbidden
from kubeling.apiserver.admission.interface import CREATE, DELETE, Attributes, Lister

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# Reviews answer questions about a namespace and must not leak whether it exists.
_ACCESS_REVIEWS = frozenset({("authorization.k8s.io", "localsubjectaccessreviews")})
_FORCE_LIVE_LOOKUP_SECONDS = 30.0

FetchNamespace = Callable[[str], Awaitable[dict | None]]


def _terminating(namespace: dict) -> bool:
    return (namespace.get("status") or {}).get("phase") == "Terminating" or bool(
        (namespace.get("metadata") or {}).get("deletionTimestamp")
    )


class NamespaceLifecycle:
    name = "NamespaceLifecycle"

    def __init__(
        self,
        lister: Lister,
        *,
        fetch_namespace: FetchNamespace | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lister = lister
        self._fetch = fetch_namespace
        self._clock = clock
        # Namespaces whose delete we admitted recently, with when that ends.
        self._live_lookup_until: dict[str, float] = {}

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        await self._check(attrs)

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        await self._check(attrs)

    async def _check(self, attrs: Attributes) -> None:
        resource = attrs.resource
        is_namespace = resource.group == "" and resource.plural == "namespaces"
        if is_namespace:
            if attrs.operation == DELETE:
                if attrs.name in IMMORTAL_NAMESPACES:
                    raise forbidden(attrs, "this namespace may not be deleted")
                self._live_lookup_until[attrs.name] = self._clock() + _FORCE_LIVE_LOOKUP_SECONDS
            return
        if not attrs.namespace or attrs.operation == DELETE:
            return
        if (resource.group, resource.plural) in _ACCESS_REVIEWS:
            return
        namespace = await self._namespace(attrs.namespace)
        if namespace is None:
            raise errors.not_found("", "namespaces", attrs.namespace)
        if attrs.operation == CREATE and _terminating(namespace):
            raise forbidden(
                attrs,
                f"unable to create new content in namespace {attrs.namespace} because it is being terminated",
                [
                    errors.Cause(
                        "NamespaceTerminating",
                        f"namespace {attrs.namespace} is being terminated",
                        "metadata.namespace",
                    )
                ],
            )

    async def _namespace(self, name: str) -> dict | None:
        cached = self._lister.get("", "namespaces", "", name)
        live = cached is None
        until = self._live_lookup_until.get(name)
        if until is not None:
            if self._clock() >= until:
                del self._live_lookup_until[name]
            elif cached is not None and not _terminating(cached):
                live = True  # the cache may not have seen the delete yet
        if live and self._fetch is not None:
            return await self._fetch(name)
        return cached
