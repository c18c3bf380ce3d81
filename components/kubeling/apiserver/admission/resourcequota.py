"""ResourceQuota: namespaced creates (and growing updates) must fit every quota.

For a request the plugin

1. lists the namespace's ResourceQuotas and keeps those that *cover* the
   object: the quota's ``spec.hard`` names a resource the kind is tracked
   by, and all its scopes select the object;
2. rejects a pod that leaves a covered cpu/memory resource unset on some
   container (``failed quota: q: must specify requests.cpu for: web``);
3. computes the request's usage delta (:func:`usage_of` of the new object,
   minus the old object's on update, never negative except for a pod
   resize), dropping zeros — nothing left means nothing to check;
4. for each covering quota, adds the delta (masked to its hard resources)
   to ``status.used`` and rejects when any exceeds ``spec.hard``
   (``exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2``);
5. unless the request is a dry run, *charges* each quota through the
   ``charge`` callback.  The apiserver implements it as an atomic update of
   the quota's status that re-checks the hard limits, so two concurrent
   requests can't both take the last slot.  When a charge is refused the
   quotas already charged by this request get a refund (the negated delta,
   which ``charge`` must always accept), the plugin re-reads the quotas and
   tries once more, then rejects.

Hard limits come from ``spec.hard`` (the quota controller copies it into
``status.hard``; reading spec sees a lowered limit at once).  A quota whose
``status.used`` lacks a covered resource counts it as 0, unless
``require_usage_stats`` asks for upstream's refusal (``status unknown for
quota``) until the quota controller has filled it in.

Which requests are handled follows upstream's evaluators: pods on CREATE
(and the ``resize`` subresource), services and PVCs on CREATE and UPDATE,
every other namespaced kind on CREATE (``count/<resource>.<group>``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from kubeling.apiserver.admission.common import (
    ResourceList,
    forbidden,
    format_quantity,
    pretty,
    resource_list,
)
from kubeling.apiserver.admission.interface import CREATE, UPDATE, Attributes, Lister
from kubeling.apiserver.admission.quotausage import (
    missing_requirements,
    scope_matches,
    scope_requirements,
    tracks,
    usage_of,
)

__all__ = ["Charge", "ResourceQuota", "format_quantity", "usage_of"]

Charge = Callable[[str, str, dict[str, str]], Awaitable[bool]]

# (quota name, requested delta, used, hard) of one covering quota.
_Entry = tuple[str, ResourceList, ResourceList, ResourceList]

_UPDATABLE = frozenset({("", "services"), ("", "persistentvolumeclaims")})


def _exceeded(
    quota: str, names: list[str], requested: ResourceList, used: ResourceList, hard: ResourceList
) -> str:
    """Upstream's refusal, showing only the resources that don't fit."""
    shown_used = {name: used.get(name, Decimal(0)) for name in names}
    return (
        f"exceeded quota: {quota}, requested: {pretty(_mask(requested, names))}, "
        f"used: {pretty(shown_used)}, limited: {pretty(_mask(hard, names))}"
    )


def _mask(resources: ResourceList, names: set[str] | list[str]) -> ResourceList:
    return {name: value for name, value in resources.items() if name in names}


def _delta_text(delta: ResourceList) -> dict[str, str]:
    return {name: format_quantity(value, name) for name, value in delta.items()}


class ResourceQuota:
    name = "ResourceQuota"

    def __init__(self, lister: Lister, charge: Charge, *, require_usage_stats: bool = False) -> None:
        self._lister = lister
        self._charge = charge
        self._require_usage_stats = require_usage_stats

    def _handles(self, attrs: Attributes) -> bool:
        resource = attrs.resource
        if not resource.namespaced or not attrs.namespace:
            return False
        key = (resource.group, resource.plural)
        if attrs.subresource:
            return key == ("", "pods") and attrs.subresource == "resize" and attrs.operation == UPDATE
        if attrs.operation == CREATE:
            return True
        return attrs.operation == UPDATE and key in _UPDATABLE

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        if not self._handles(attrs):
            return
        for attempt in range(2):
            plan = self._plan(attrs, obj, old)
            if not plan or attrs.dry_run:
                return
            refused = await self._charge_all(attrs.namespace, plan)
            if refused is None:
                return
            if attempt == 1:
                quota, requested, used, hard = refused
                failed = [name for name in requested if requested[name] > 0]
                raise forbidden(attrs, _exceeded(quota, failed, requested, used, hard))

    def _plan(self, attrs: Attributes, obj: dict, old: dict | None) -> list[_Entry]:
        """[(quota name, requested delta, used, hard)] for the covering quotas; raises on refusal."""
        group, plural = attrs.resource.group, attrs.resource.plural
        covering: list[tuple[dict, list[str]]] = []
        for quota in self._lister.list("", "resourcequotas", attrs.namespace):
            hard_names = list(((quota.get("spec") or {}).get("hard") or {}).keys())
            tracked = [name for name in hard_names if tracks(group, plural, name)]
            if not tracked:
                continue
            if not all(scope_matches(group, plural, r, obj) for r in scope_requirements(quota)):
                continue
            quota_name = (quota.get("metadata") or {}).get("name", "")
            if group == "" and plural == "pods":
                missing = missing_requirements(obj, set(tracked))
                if missing:
                    raise forbidden(attrs, f"failed quota: {quota_name}: {missing}")
            if self._require_usage_stats:
                used = (quota.get("status") or {}).get("used") or {}
                unknown = sorted(name for name in tracked if name not in used)
                if unknown:
                    raise forbidden(
                        attrs, f"status unknown for quota: {quota_name}, resources: {','.join(unknown)}"
                    )
            covering.append((quota, tracked))
        if not covering:
            return []

        delta = usage_of(group, plural, obj)
        negative = sorted(name for name, value in delta.items() if value < 0)
        if negative:
            raise forbidden(attrs, f"quota usage is negative for resource(s): {','.join(negative)}")
        # A create on update (no prior version) pays in full.
        if attrs.operation == UPDATE and ((old or {}).get("metadata") or {}).get("resourceVersion"):
            before = usage_of(group, plural, old)
            if attrs.subresource == "resize":
                # A resize may shrink a pod and give quota back.
                delta = {
                    n: delta.get(n, Decimal(0)) - before.get(n, Decimal(0)) for n in delta.keys() | before
                }
            else:
                delta = {n: max(v - before.get(n, Decimal(0)), Decimal(0)) for n, v in delta.items()}
        delta = {name: value for name, value in delta.items() if value != 0}
        if not delta:
            return []

        plan = []
        for quota, _tracked in covering:
            quota_name = (quota.get("metadata") or {}).get("name", "")
            hard = resource_list((quota.get("spec") or {}).get("hard"))
            used = resource_list((quota.get("status") or {}).get("used"))
            requested = _mask(delta, hard.keys())
            if not requested:
                continue
            exceeded = [
                name for name, value in requested.items() if used.get(name, Decimal(0)) + value > hard[name]
            ]
            if exceeded:
                raise forbidden(attrs, _exceeded(quota_name, exceeded, requested, used, hard))
            plan.append((quota_name, requested, used, hard))
        return plan

    async def _charge_all(self, namespace: str, plan: list[_Entry]) -> _Entry | None:
        """Charge every quota; on a refusal refund the others and return the refused entry."""
        charged: list[tuple[str, ResourceList]] = []
        for entry in plan:
            quota_name, requested, _used, _hard = entry
            if await self._charge(namespace, quota_name, _delta_text(requested)):
                charged.append((quota_name, requested))
                continue
            for done_name, done_delta in charged:
                await self._charge(namespace, done_name, _delta_text({n: -v for n, v in done_delta.items()}))
            return entry
        return None
