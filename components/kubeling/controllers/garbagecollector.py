"""The garbage collector: deletes objects whose owners are gone, as ownerReferences say.

**Graph.**  Every resource discovery lists with list, watch and delete (custom
resources included; Events excluded, as upstream) gets a shared informer;
its handlers keep a graph of :class:`Node` s keyed by uid — each with its
owners (the ownerReferences) and its dependents.  An owner named by a
reference but never seen is a *virtual* node, checked against the server.
Discovery runs again every ``options.extra["gc_rediscovery_period"]``
seconds (30) so CRDs created later are collected too.

**Queue.**  Keys are ``delete:<uid>`` (is this object garbage?) and
``orphan:<uid>`` (detach its dependents).  What enqueues what:

- an object deleted → ``delete:`` each dependent;
- a virtual owner → ``delete:`` it (a live GET decides whether its
  dependents are garbage; objects with real owners cost nothing);
- an owner with ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer → ``delete:`` the owner (to process its dependents first);
- an owner with ``deletionTimestamp`` and the ``orphan`` finalizer →
  ``orphan:`` the owner.

**attemptToDelete** (upstream's algorithm): read the object live (the
cache may lag); classify each owner with a live GET — *dangling* (404 or
another uid), *waiting* (being deleted in the foreground) or *solid*.  With
a solid owner the object stays, only its references to dangling or waiting
owners are removed.  Otherwise it is deleted: in the foreground when an
owner waits for it and it has dependents itself, else with the policy its
own finalizers ask for (Background by default).  An owner being deleted in
the foreground loses its ``foregroundDeletion`` finalizer once no
dependent with ``blockOwnerDeletion`` is left.

**attemptToOrphan**: remove the owner's reference from each dependent,
then the ``orphan`` finalizer from the owner.

Writes are merge patches carrying ``resourceVersion`` (a stale read is a
409 and a retry), which works for every resource, custom ones included.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.discovery import APIResource, discover, resource_for

log = logging.getLogger(__name__)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
IGNORED = frozenset({("", "events"), ("events.k8s.io", "events")})
REDISCOVERY_PERIOD = 30.0


@dataclass
class Node:
    uid: str
    resource: APIResource | None
    namespace: str
    name: str
    owners: list[Obj] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)
    virtual: bool = False
    deleting: bool = False  # has a deletionTimestamp
    deleting_dependents: bool = False  # ... and the foregroundDeletion finalizer
    orphaning: bool = False  # ... and the orphan finalizer


def owner_identity(ref: Obj, dependent_namespace: str, resource: APIResource | None) -> tuple[str, str]:
    """(namespace, name) of an owner: namespaced owners live in the dependent's namespace."""
    namespace = dependent_namespace if resource is None or resource.namespaced else ""
    return namespace, str(ref.get("name", ""))


def classify(owners: list[tuple[Obj, Obj | None]]) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """(solid, dangling, waiting) owner references, given each reference and its live owner (None: absent)."""
    solid: list[Obj] = []
    dangling: list[Obj] = []
    waiting: list[Obj] = []
    for ref, live in owners:
        if live is None or (live.get("metadata") or {}).get("uid") != ref.get("uid"):
            dangling.append(ref)
            continue
        meta = live["metadata"]
        if meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or []):
            waiting.append(ref)
        else:
            solid.append(ref)
    return solid, dangling, waiting


def deletion_policy(obj: Obj) -> str:
    """The propagation an object's own finalizers ask for when the collector deletes it."""
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    if ORPHAN in finalizers:
        return "Orphan"
    if FOREGROUND in finalizers:
        return "Foreground"
    return "Background"


class GarbageCollector(Controller):
    name = "garbage-collector-controller"
    service_account = "generic-garbage-collector"
    workers = 10

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.period = float(self.options.extra.get("gc_rediscovery_period", REDISCOVERY_PERIOD))
        self.nodes: dict[str, Node] = {}
        self.known: dict[tuple[str, str], APIResource] = {}
        self.monitored: set[tuple[str, str]] = set()

    # -- discovery and monitors -----------------------------------------------------

    async def run(self) -> None:
        delay = 1.0
        while True:  # the first discovery must succeed before anything can be collected
            try:
                await self.sync_monitors()
                break
            except (StatusError, OSError) as exc:
                log.warning("garbage collector: discovery failed (%s); retrying in %.0fs", exc, delay)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 30.0)
        rediscovery = asyncio.create_task(self._rediscover(), name="gc-rediscovery")
        try:
            await super().run()
        finally:
            rediscovery.cancel()
            await asyncio.gather(rediscovery, return_exceptions=True)

    async def _rediscover(self) -> None:
        while True:
            await self.clock.sleep(self.period)
            try:
                await self.sync_monitors()
            except Exception as exc:  # a failed rediscovery keeps the monitors we have
                log.warning("garbage collector: rediscovery failed: %s", exc)

    async def sync_monitors(self) -> None:
        """Watch every deletable resource not watched yet."""
        found = await discover(self.client)
        fresh: list[APIResource] = []
        for res in found.resources:
            self.known[(res.group, res.kind)] = res
            key = (res.group, res.plural)
            if key in IGNORED or key in self.monitored or not res.supports("list", "watch", "delete"):
                continue
            self.monitored.add(key)
            fresh.append(res)
        for res in fresh:
            informer = self.informer(res)
            informer.add_event_handler(
                on_add=lambda obj, r=res: self._observe(r, obj),
                on_update=lambda _old, new, r=res: self._observe(r, new),
                on_delete=lambda obj, r=res: self._forget(obj),
            )
            for obj in informer.store.list():  # already listed before we subscribed
                self._observe(res, obj)
        if fresh:
            self.ctx.informers.start()
            log.info("garbage collector: monitoring %d more resources", len(fresh))

    # -- graph ------------------------------------------------------------------------

    def _observe(self, resource: APIResource, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        node = self.nodes.get(uid)
        if node is None:
            node = Node(uid, resource, meta.get("namespace") or "", meta.get("name", ""))
            self.nodes[uid] = node
        node.virtual = False
        node.resource, node.namespace, node.name = resource, meta.get("namespace") or "", meta.get("name", "")
        old_owners = {ref.get("uid") for ref in node.owners}
        refs = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid")]
        new_owners = {ref["uid"] for ref in refs}
        node.owners = copy.deepcopy(refs)
        for gone in old_owners - new_owners:
            owner = self.nodes.get(gone)
            if owner is not None:
                owner.dependents.discard(uid)
                if owner.deleting_dependents:
                    self.queue.add(f"delete:{gone}")
        for ref in refs:
            owner = self.nodes.get(ref["uid"])
            if owner is None:
                owner_resource = resource_for(ref.get("apiVersion", ""), ref.get("kind", ""), self.known)
                namespace, name = owner_identity(ref, node.namespace, owner_resource)
                owner = Node(ref["uid"], owner_resource, namespace, name, virtual=True)
                self.nodes[ref["uid"]] = owner
                self.queue.add(f"delete:{ref['uid']}")  # does this owner exist at all?
            owner.dependents.add(uid)
        finalizers = meta.get("finalizers") or []
        node.deleting = bool(meta.get("deletionTimestamp"))
        node.deleting_dependents = node.deleting and FOREGROUND in finalizers
        node.orphaning = node.deleting and ORPHAN in finalizers
        if node.orphaning:
            self.queue.add(f"orphan:{uid}")
        if node.deleting_dependents:
            self.queue.add(f"delete:{uid}")
            for dependent in node.dependents:
                self.queue.add(f"delete:{dependent}")

    def _forget(self, obj: Obj) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        node = self.nodes.pop(uid, None) if uid else None
        if node is None:
            return
        for ref in node.owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None:
                owner.dependents.discard(node.uid)
                if owner.deleting_dependents:
                    self.queue.add(f"delete:{owner.uid}")  # one blocker fewer
                if owner.virtual and not owner.dependents:
                    self.nodes.pop(owner.uid, None)
        for dependent in node.dependents:
            self.queue.add(f"delete:{dependent}")
        if node.dependents:
            # Dependents still point at the uid: keep a virtual node so they can find it gone.
            self.nodes[node.uid] = Node(
                node.uid,
                node.resource,
                node.namespace,
                node.name,
                dependents=set(node.dependents),
                virtual=True,
            )

    # -- work ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        action, _, uid = key.partition(":")
        node = self.nodes.get(uid)
        if node is None:
            return None
        if action == "orphan":
            await self._orphan(node)
        elif node.virtual:
            await self._check_virtual(node)
        elif node.deleting_dependents:
            await self._foreground(node)
        else:
            await self._attempt_to_delete(node)
        return None

    async def _live(self, resource: APIResource | None, namespace: str, name: str) -> Obj | None:
        if resource is None:
            return None
        try:
            return await self.client.get(resource, name=name, namespace=namespace or None)
        except StatusError as exc:
            if exc.code in (404, 410):
                return None
            raise

    def _resolve_virtual(self, node: Node) -> APIResource | None:
        """The resource of an owner first named when its kind was not discovered yet (a new CRD)."""
        for uid in node.dependents:
            dependent = self.nodes.get(uid)
            for ref in dependent.owners if dependent is not None else []:
                if ref.get("uid") == node.uid:
                    resource = resource_for(ref.get("apiVersion", ""), ref.get("kind", ""), self.known)
                    if resource is not None:  # its scope is known now: cluster owners have no namespace
                        node.namespace, node.name = owner_identity(ref, dependent.namespace, resource)
                    return resource
        return None

    async def _check_virtual(self, node: Node) -> None:
        """An owner only named by references: if it is really absent, its dependents are garbage."""
        if node.resource is None:
            node.resource = self._resolve_virtual(node)
        if node.resource is None:
            # An unknown kind: retried with backoff until rediscovery knows it, as upstream.
            raise LookupError(f"no resource serves the owner {node.name} ({node.uid})")
        live = await self._live(node.resource, node.namespace, node.name)
        if live is not None and live["metadata"].get("uid") == node.uid:
            return  # it exists; its informer will tell us more
        for dependent in node.dependents:
            self.queue.add(f"delete:{dependent}")

    async def _attempt_to_delete(self, node: Node) -> None:
        if node.deleting or node.resource is None:
            return
        item = await self._live(node.resource, node.namespace, node.name)
        if item is None or item["metadata"].get("uid") != node.uid:
            return  # gone or replaced: its informer will catch up
        refs = (item.get("metadata") or {}).get("ownerReferences") or []
        if not refs:
            return
        pairs: list[tuple[Obj, Obj | None]] = []
        for ref in refs:
            owner_resource = resource_for(ref.get("apiVersion", ""), ref.get("kind", ""), self.known)
            if owner_resource is None:
                raise LookupError(f"no resource serves {ref.get('apiVersion')}/{ref.get('kind')}")
            namespace, name = owner_identity(ref, node.namespace, owner_resource)
            pairs.append((ref, await self._live(owner_resource, namespace, name)))
        solid, dangling, waiting = classify(pairs)
        meta = item["metadata"]
        if solid:
            if dangling or waiting:
                drop = {ref["uid"] for ref in dangling + waiting}
                kept = [ref for ref in refs if ref.get("uid") not in drop]
                await self._patch_meta(node, item, {"ownerReferences": kept})
            return
        # An owner waits for us and we have dependents of our own: they go first, too.
        policy = "Foreground" if waiting and node.dependents else deletion_policy(item)
        log.info(
            "garbage collector: deleting %s %s/%s (owners gone; %s)",
            node.resource.kind,
            node.namespace,
            node.name,
            policy,
        )
        try:
            await self.client.delete(
                node.resource,
                name=meta["name"],
                namespace=node.namespace or None,
                propagation_policy=policy,
                preconditions={"uid": node.uid},
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise

    async def _foreground(self, node: Node) -> None:
        """Delete the dependents that block the owner; drop its finalizer when none is left."""
        blocking = [
            dep
            for uid in node.dependents
            if (dep := self.nodes.get(uid)) is not None
            and not dep.virtual
            and any(ref.get("uid") == node.uid and ref.get("blockOwnerDeletion") for ref in dep.owners)
        ]
        if blocking:
            for dep in blocking:
                if not dep.deleting:
                    self.queue.add(f"delete:{dep.uid}")
            return
        item = await self._live(node.resource, node.namespace, node.name)
        if item is None or item["metadata"].get("uid") != node.uid:
            return
        finalizers = item["metadata"].get("finalizers") or []
        if FOREGROUND in finalizers:
            await self._patch_meta(node, item, {"finalizers": [f for f in finalizers if f != FOREGROUND]})

    async def _orphan(self, node: Node) -> None:
        for uid in list(node.dependents):
            dep = self.nodes.get(uid)
            if dep is None or dep.virtual or dep.resource is None:
                continue
            live = await self._live(dep.resource, dep.namespace, dep.name)
            if live is None or live["metadata"].get("uid") != uid:
                continue
            refs = live["metadata"].get("ownerReferences") or []
            kept = [ref for ref in refs if ref.get("uid") != node.uid]
            if len(kept) != len(refs):
                await self._patch_meta(dep, live, {"ownerReferences": kept})
        item = await self._live(node.resource, node.namespace, node.name)
        if item is None or item["metadata"].get("uid") != node.uid:
            return
        finalizers = item["metadata"].get("finalizers") or []
        if ORPHAN in finalizers:
            await self._patch_meta(node, item, {"finalizers": [f for f in finalizers if f != ORPHAN]})

    async def _patch_meta(self, node: Node, live: Obj, changes: dict[str, Any]) -> None:
        """A merge patch of metadata fields, conditional on the version we read."""
        assert node.resource is not None
        meta = live["metadata"]
        patch = {"metadata": {**changes, "resourceVersion": meta.get("resourceVersion")}}
        for name, value in changes.items():
            if not value:
                patch["metadata"][name] = None  # an empty list removes the field
        try:
            await self.client.patch(
                node.resource, patch, name=meta["name"], namespace=node.namespace or None, patch_type="merge"
            )
        except StatusError as exc:
            if exc.code != 404:
                raise
