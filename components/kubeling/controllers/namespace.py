"""The namespace controller: empties a Terminating namespace, then lets it go.

Deleting a namespace only marks it (``deletionTimestamp``, phase
Terminating); its ``spec.finalizers`` hold ``kubernetes`` until this
controller has removed everything inside.  One sync of a namespace being
deleted, as upstream's namespaced-resources deleter:

1. discover every namespaced resource (custom ones included) that
   supports delete; failures of some groups are reported, not fatal;
2. delete each resource's objects — one ``deletecollection`` where the
   resource supports it, else one delete per object — with background
   propagation, then list what is left (pods linger through their graceful
   termination, objects with finalizers until those are done);
3. write the conditions ``NamespaceDeletionDiscoveryFailure``,
   ``NamespaceDeletionGroupVersionParsingFailure``,
   ``NamespaceDeletionContentFailure``, ``NamespaceContentRemaining`` and
   ``NamespaceFinalizersRemaining`` (False with upstream's "all good"
   reasons, or True with what is wrong);
4. with nothing left, remove ``kubernetes`` from ``spec.finalizers``
   through ``PUT namespaces/<name>/finalize`` — the server then deletes the
   namespace.  With content left it looks again after a backoff that
   doubles per try (0.5 s up to 30 s), so namespaces stuck on finalizers
   do not starve the others.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubeling.api.errors import StatusError
from kubeling.client.flowcontrol import TokenBucket
from kubeling.client.paths import resource_path
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.discovery import APIResource, Discovery, discover
from kubeling.controllers.resources import NAMESPACES

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
RECHECK_SECONDS = 0.5  # first look again after content remained; doubles per try up to the max
MAX_RECHECK_SECONDS = 30.0
QPS_FACTOR = 20
BURST_FACTOR = 100
DISCOVERY_TTL = 5.0  # one discovery serves the passes of every namespace within this many seconds
BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}

# condition type → (reason and message when all is well)
HEALTHY = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": (
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    "NamespaceDeletionContentFailure": (
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


@dataclass
class Outcome:
    """What one pass over a namespace's content found."""

    discovery_failures: dict[str, str] = field(default_factory=dict)
    delete_failures: list[str] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)  # "pods" / "deployments.apps" → count
    finalizers: dict[str, int] = field(default_factory=dict)  # finalizer → objects holding it

    @property
    def done(self) -> bool:
        return not (self.discovery_failures or self.delete_failures or self.remaining)


def group_resource(resource: APIResource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def conditions(outcome: Outcome) -> dict[str, tuple[str, str, str]]:
    """Condition type → (status, reason, message), in upstream's wording."""
    found: dict[str, tuple[str, str, str]] = {}
    if outcome.discovery_failures:
        failing = ", ".join(f"{gv}: {err}" for gv, err in sorted(outcome.discovery_failures.items()))
        message = f"Discovery failed for some groups, {len(outcome.discovery_failures)} failing: {failing}"
        found["NamespaceDeletionDiscoveryFailure"] = ("True", "DiscoveryFailed", message)
    if outcome.delete_failures:
        message = (
            f"Failed to delete all resource types, {len(outcome.delete_failures)} remaining: "
            + ", ".join(outcome.delete_failures)
        )
        found["NamespaceDeletionContentFailure"] = ("True", "ContentDeletionFailed", message)
    if outcome.remaining:
        parts = [
            f"{name} has {count} resource instances" for name, count in sorted(outcome.remaining.items())
        ]
        found["NamespaceContentRemaining"] = (
            "True",
            "SomeResourcesRemain",
            f"Some resources are remaining: {', '.join(parts)}",
        )
    if outcome.finalizers:
        parts = [
            f"{name} in {count} resource instances" for name, count in sorted(outcome.finalizers.items())
        ]
        found["NamespaceFinalizersRemaining"] = (
            "True",
            "SomeFinalizersRemain",
            f"Some content in the namespace has finalizers remaining: {', '.join(parts)}",
        )
    for kind, (reason, message) in HEALTHY.items():
        found.setdefault(kind, ("False", reason, message))
    return found


def merge_conditions(current: list[Obj], wanted: dict[str, tuple[str, str, str]], now: str) -> list[Obj]:
    """Conditions with ``wanted`` applied; transition times move only when a status flips."""
    by_type = {c.get("type"): c for c in current}
    merged: list[Obj] = [c for c in current if c.get("type") not in wanted]
    for kind, (status, reason, message) in wanted.items():
        old = by_type.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else now
        merged.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since,
            }
        )
    return merged


class NamespaceController(Controller):
    name = "namespace-controller"
    service_account = "namespace-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(
            on_add=self._changed, on_update=lambda _old, new: self._changed(new)
        )
        self.tries: dict[str, int] = {}
        self._discovery: tuple[float, Discovery] | None = None
        limiter = self.client.rate_limiter
        if self.client is not ctx.clients.root and limiter.qps > 0:
            # Emptying a namespace takes a request or two per resource: upstream gives this
            # controller's own client 20 times the QPS and 100 times the burst.
            self.client.rate_limiter = TokenBucket(
                qps=limiter.qps * QPS_FACTOR, burst=limiter.burst * BURST_FACTOR
            )

    def _changed(self, namespace: Obj) -> None:
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue(namespace)

    async def reconcile(self, key: str) -> float | None:
        cached = self.namespaces.store.get(key)
        if cached is None or not cached["metadata"].get("deletionTimestamp"):
            self.tries.pop(key, None)
            return None
        if FINALIZER not in ((cached.get("spec") or {}).get("finalizers") or []):
            self.tries.pop(key, None)
            return None  # our part is done; other finalizers are someone else's
        namespace = copy.deepcopy(cached)
        outcome = await self.delete_content(key)
        if outcome.done:
            # Never finalize on a cached discovery: a CRD made since could leave its objects behind.
            outcome = await self.delete_content(key, fresh=True)
        await self._write_conditions(namespace, outcome)
        if not outcome.done:
            tries = self.tries.get(key, 0)
            self.tries[key] = tries + 1
            return min(RECHECK_SECONDS * 2**tries, MAX_RECHECK_SECONDS)
        self.tries.pop(key, None)
        await self._finalize(namespace)
        return None

    async def _discover(self, fresh: bool) -> Discovery:
        now = self.clock.now()
        if not fresh and self._discovery is not None and now - self._discovery[0] < DISCOVERY_TTL:
            return self._discovery[1]
        found = await discover(self.client)
        if not found.failed:
            self._discovery = (now, found)  # never keep a partial answer
        return found

    async def delete_content(self, namespace: str, *, fresh: bool = False) -> Outcome:
        found = await self._discover(fresh)
        outcome = Outcome(discovery_failures=dict(found.failed))
        for resource in found.resources:
            if not resource.namespaced or not resource.supports("delete"):
                continue
            await self._empty(resource, namespace, outcome)
        return outcome

    async def _empty(self, resource: APIResource, namespace: str, outcome: Outcome) -> None:
        path = resource_path(resource, namespace=namespace)
        name = group_resource(resource)
        try:
            if resource.supports("deletecollection"):
                await self.client.request("DELETE", path, body=BACKGROUND)
            elif resource.supports("list"):
                listing = await self.client.request("GET", path)
                for item in listing.get("items") or []:
                    if item["metadata"].get("deletionTimestamp"):
                        continue
                    try:
                        await self.client.request(
                            "DELETE", f"{path}/{item['metadata']['name']}", body=BACKGROUND
                        )
                    except StatusError as exc:
                        if exc.code != 404:
                            raise
            if not resource.supports("list"):
                return
            left = (await self.client.request("GET", path)).get("items") or []
        except StatusError as exc:
            if exc.code in (404, 405):
                return  # the resource went away, or cannot be deleted this way: nothing of ours
            outcome.delete_failures.append(f"{name}: {exc}")
            return
        if left:
            outcome.remaining[name] = len(left)
            for item in left:
                for finalizer in item["metadata"].get("finalizers") or []:
                    outcome.finalizers[finalizer] = outcome.finalizers.get(finalizer, 0) + 1

    async def _write_conditions(self, namespace: Obj, outcome: Outcome) -> None:
        status = namespace.setdefault("status", {})
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        merged = merge_conditions(status.get("conditions") or [], conditions(outcome), now)
        if merged == (status.get("conditions") or []) and status.get("phase") == "Terminating":
            return
        body = {**namespace, "status": {**status, "phase": "Terminating", "conditions": merged}}
        try:
            await self.client.update(
                NAMESPACES, body, name=namespace["metadata"]["name"], subresource="status"
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise  # a conflict: the next pass writes them

    async def _finalize(self, namespace: Obj) -> None:
        meta = namespace["metadata"]
        latest = await self.client.get(NAMESPACES, name=meta["name"])
        finalizers = [f for f in (latest.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
        body = {**latest, "spec": {**(latest.get("spec") or {}), "finalizers": finalizers}}
        try:
            await self.client.update(NAMESPACES, body, name=meta["name"], subresource="finalize")
        except StatusError as exc:
            if exc.code != 404:
                raise
        log.info("namespace %s finalized", meta["name"])
