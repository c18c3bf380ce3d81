"""The ResourceQuota controller: ``status.used`` recalculated from what exists.

Admission charges a quota as objects are created; this controller is the
other half, as upstream's resourcequota-controller: it recomputes each
quota's usage from the informer caches, so deletions and pods finishing give
quota back and objects that predate a quota are counted.  Usage per object
comes from :mod:`kubeling.apiserver.admission.quotausage`, the same
evaluators admission uses, so both sides agree on every number.

- Keys are quotas (``namespace/name``).  A quota is synced when it appears,
  when its spec changes or its ``status.hard`` lags ``spec.hard``, when an
  object of a kind it tracks is deleted or changes its usage (a pod going
  terminal), and every ``--resource-quota-sync-period`` (5 minutes, as
  upstream).
- ``status.hard`` is ``spec.hard``; ``status.used`` holds every hard name
  some evaluator tracks, computed over the namespace's objects that the
  quota's scopes select.  Counts of kinds without an informer here
  (``count/widgets.example.com``) are listed from the API at sync time.
- The status is written only when it differs, guarded by the cached
  resourceVersion: a quota charged meanwhile gives a 409 and a retry.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from kubeling.api.errors import StatusError
from kubeling.api.resources import Registry
from kubeling.apiserver.admission.common import ResourceList, add, format_quantity, resource_list
from kubeling.apiserver.admission.quotausage import scope_matches, scope_requirements, tracks, usage_of
from kubeling.client.informer import Informer
from kubeling.client.paths import StaticResource
from kubeling.client.store import BY_NAMESPACE, Obj
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.resources import (
    CONFIGMAPS,
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    RESOURCEQUOTAS,
    SECRETS,
    SERVICES,
    STATEFULSETS,
)

log = logging.getLogger(__name__)

# Kinds counted from shared informers; anything else named by count/<resource>.<group> is listed live.
WATCHED = (
    PODS,
    SERVICES,
    CONFIGMAPS,
    SECRETS,
    PERSISTENTVOLUMECLAIMS,
    REPLICATIONCONTROLLERS,
    RESOURCEQUOTAS,
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
    DAEMONSETS,
    JOBS,
    CRONJOBS,
)
_REGISTRY = Registry()


def covers(quota: Obj, group: str, plural: str, obj: Obj) -> bool:
    """Whether every scope of ``quota`` selects ``obj``."""
    return all(scope_matches(group, plural, r, obj) for r in scope_requirements(quota))


def calculate_usage(quota: Obj, group: str, plural: str, objects: list[Obj]) -> ResourceList:
    """The usage of one kind's ``objects`` under ``quota``: each tracked hard name, zeros included."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    names = [name for name in hard if tracks(group, plural, name)]
    if not names:
        return {}
    total: ResourceList = {name: Decimal(0) for name in names}
    for obj in objects:
        if covers(quota, group, plural, obj):
            add(total, usage_of(group, plural, obj))
    return {name: total[name] for name in names}


def quota_status(quota: Obj, usage: ResourceList) -> dict:
    """The status to write: hard from spec; used for hard names, computed ones replacing old ones."""
    hard = dict((quota.get("spec") or {}).get("hard") or {})
    previous = (quota.get("status") or {}).get("used") or {}
    used = {name: previous[name] for name in hard if name in previous}
    for name, value in usage.items():
        if name in hard:
            used[name] = format_quantity(value, name)
    return {"hard": hard, "used": used}


def same_status(a: dict, b: dict) -> bool:
    """Semantic equality: ``1000m`` and ``1`` are the same quantity."""
    for key in ("hard", "used"):
        left, right = a.get(key) or {}, b.get(key) or {}
        if left.keys() != right.keys() or resource_list(left) != resource_list(right):
            return False
    return True


def count_target(name: str) -> tuple[str, str] | None:
    """``count/widgets.example.com`` → ("example.com", "widgets"); None for other names."""
    if not name.startswith("count/"):
        return None
    plural, _, group = name[len("count/") :].partition(".")
    return group, plural


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"
    service_account = "resourcequota-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sync_period = self.options.resource_quota_sync_period
        self.quotas = self.informer(RESOURCEQUOTAS)
        self.quotas.add_event_handler(on_add=self.enqueue, on_update=self._quota_updated)
        self.kinds: dict[tuple[str, str], Informer] = {}
        for resource in WATCHED:
            informer = self.informer(resource)
            self.kinds[(resource.group, resource.plural)] = informer
            group, plural = resource.group, resource.plural
            informer.add_event_handler(
                on_update=lambda old, new, g=group, p=plural: self._object_updated(g, p, old, new),
                on_delete=self._replenish,
            )

    # -- handlers ----------------------------------------------------------------

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        spec = new.get("spec") or {}
        if old.get("spec") != spec or (new.get("status") or {}).get("hard") != spec.get("hard"):
            self.enqueue(new)

    def _object_updated(self, group: str, plural: str, old: Obj, new: Obj) -> None:
        if usage_of(group, plural, old) != usage_of(group, plural, new):
            self._replenish(new)

    def _replenish(self, obj: Obj) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        for quota in self.quotas.store.by_index(BY_NAMESPACE, namespace):
            self.enqueue(quota)

    # -- sync --------------------------------------------------------------------

    async def _objects(self, group: str, plural: str, namespace: str) -> list[Obj] | None:
        informer = self.kinds.get((group, plural))
        if informer is not None:
            return informer.store.by_index(BY_NAMESPACE, namespace)
        version = await self._preferred_version(group, plural)
        if version is None:
            return None  # no such resource (yet): leave its usage as it was
        listed = await self.client.list(StaticResource(group, version, plural), namespace=namespace)
        return listed.get("items") or []

    async def _preferred_version(self, group: str, plural: str) -> str | None:
        found = _REGISTRY.preferred(group, plural)
        if found is not None:
            return found.version
        if not group:
            return None
        try:
            answer = await self.client.request("GET", f"/apis/{group}")
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise
        preferred = (answer.get("preferredVersion") or {}).get("version")
        return str(preferred) if preferred else None

    async def reconcile(self, key: str) -> float | None:
        quota = self.quotas.store.get(key)
        if quota is None:
            return None
        namespace, _ = split_key(key)
        hard = (quota.get("spec") or {}).get("hard") or {}
        kinds = set(self.kinds)
        kinds |= {target for name in hard if (target := count_target(name)) is not None}
        usage: ResourceList = {}
        for group, plural in sorted(kinds):
            if not any(tracks(group, plural, name) for name in hard):
                continue
            objects = await self._objects(group, plural, namespace)
            if objects is not None:
                usage.update(calculate_usage(quota, group, plural, objects))
        status = quota_status(quota, usage)
        if not same_status(status, quota.get("status") or {}):
            body = {**quota, "status": status}
            try:
                await self.client.update(RESOURCEQUOTAS, body, namespace=namespace, subresource="status")
            except StatusError as exc:
                if exc.code != 404:
                    raise
                return None
        return self.sync_period
