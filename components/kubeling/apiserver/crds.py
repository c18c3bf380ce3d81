"""Serving custom resources: the apiserver's own CRD loop.

Watches CustomResourceDefinitions in the watch cache.  A new or changed CRD
has its served versions registered as resources, then its status set to
NamesAccepted + Established (what ``kubectl wait --for=condition=established``
waits for).  A CRD marked for deletion has all its custom objects deleted,
then its cleanup finalizer removed, as upstream does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from kubeling.api import errors
from kubeling.api.resources import Resource
from kubeling.apiserver.objects import Obj, now_rfc3339
from kubeling.apiserver.store import WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def resources_of(crd: Obj) -> list[Resource]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        sub = version.get("subresources") or {}
        out.append(
            Resource(
                group=spec.get("group", ""),
                version=version.get("name", ""),
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                singular=names.get("singular") or names.get("kind", "").lower(),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(s for s in ("scale", "status") if s in sub),
                crd=crd,
            )
        )
    return out


class CRDServing:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._served: dict[str, list[Resource]] = {}  # CRD name -> its registered resources

    def register(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        self.unregister(name)
        resources = resources_of(crd)
        for resource in resources:
            self.server.registry.add(resource)
        self._served[name] = resources
        self._changed()

    def unregister(self, name: str) -> None:
        for resource in self._served.pop(name, []):
            self.server.registry.remove(resource)
            self.server._stores.pop(resource, None)
        self._changed()

    def _changed(self) -> None:
        invalidate = getattr(self.server.openapi, "invalidate", None)
        if invalidate is not None:
            invalidate()

    async def reconcile(self, crd: Obj) -> None:
        store = self.server.store("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        name = crd["metadata"]["name"]
        ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver", subresource="status")
        if not self.server.primary:
            # A secondary process serves what the primary established and writes nothing.
            if crd["metadata"].get("deletionTimestamp") or not _established(crd):
                self.unregister(name)
            else:
                self.register(crd)
            return
        if crd["metadata"].get("deletionTimestamp"):
            await self._cleanup(crd)
            return
        self.register(crd)
        if _established(crd) and CLEANUP_FINALIZER in (crd["metadata"].get("finalizers") or []):
            return

        def mutate(current: Obj) -> Obj:
            names = (current.get("spec") or {}).get("names") or {}
            status = current.setdefault("status", {})
            status["acceptedNames"] = names
            now = now_rfc3339()
            status["conditions"] = [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ]
            stored = [
                v["name"] for v in (current.get("spec") or {}).get("versions") or [] if v.get("storage")
            ]
            status["storedVersions"] = sorted(set(status.get("storedVersions") or []) | set(stored))
            finalizers = current["metadata"].setdefault("finalizers", [])
            if CLEANUP_FINALIZER not in finalizers:
                finalizers.append(CLEANUP_FINALIZER)
            current["metadata"]["resourceVersion"] = ""
            return current

        try:
            # The finalizer lives in metadata, the conditions in status: write both in one go.
            ctx.subresource = "establish"
            await store.guaranteed_update("", name, mutate, ctx)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise

    async def _cleanup(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver")
        for resource in resources_of(crd)[:1]:
            store = self.server.store_for(resource)
            items, _, _, _ = await store.list("", matches=None)
            for item in items:
                meta = item["metadata"]
                try:
                    await self.server.storage.delete(resource.key(meta.get("namespace"), meta["name"]))  # type: ignore[union-attr]
                except Exception:  # already gone
                    pass
        self.unregister(name)
        store = self.server.store("apiextensions.k8s.io", "v1", "customresourcedefinitions")

        def mutate(current: Obj) -> Obj:
            finalizers = [f for f in current["metadata"].get("finalizers") or [] if f != CLEANUP_FINALIZER]
            current["metadata"]["finalizers"] = finalizers
            current["metadata"]["resourceVersion"] = ""
            return current

        try:
            ctx.subresource = "finalize-crd"
            await store.guaranteed_update("", name, mutate, ctx)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise


def _established(crd: Obj) -> bool:
    for condition in (crd.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Established" and condition.get("status") == "True":
            return True
    return False


async def establish_loop(server: APIServer) -> None:
    serving = CRDServing(server)
    server.crd_serving = serving  # type: ignore[attr-defined]
    store = server.store("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert server.cache is not None
    while True:
        watcher = store.watch("", matches=lambda _o: True, since=None)
        for crd in server.cache.list(store.resource.storage_prefix, store.resource.storage_prefix):
            await _safe(serving.reconcile(crd))
        while True:
            item = await watcher.queue.get()
            if item is None:
                break
            kind, crd = item
            if kind == "DELETED":
                serving.unregister(crd["metadata"]["name"])
            else:
                await _safe(serving.reconcile(crd))
        server.cache.forget(watcher)
        await asyncio.sleep(0.1)


async def _safe(coro) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("reconciling a CustomResourceDefinition failed")
