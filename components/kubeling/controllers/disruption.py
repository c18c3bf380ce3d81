"""Disruption: the status of every PodDisruptionBudget, which the eviction API obeys.

A sync of budget ``ns/name`` reads the pods its selector picks (a null selector picks none, an
empty one all of the namespace) and works out, as upstream:

- ``expectedPods`` and ``desiredHealthy``: with ``maxUnavailable`` (a number or a percentage of
  the expected pods, rounded up) or a percentage ``minAvailable``, the expected pods are the sum of
  the scales of the pods' controllers — a ReplicaSet (or the Deployment owning it), a
  StatefulSet, a ReplicationController, or anything else with a ``scale`` subresource; pods
  without a controller are reported with an ``UnmanagedPods`` event and ignored.  A number
  ``minAvailable`` is the desired count and the expected pods are the pods found;
- ``currentHealthy``: Ready pods that are not being deleted and not listed in ``disruptedPods``;
- ``disruptedPods`` keeps the entries the eviction API added for pods that still exist and are not
  yet being deleted, for two minutes (then the pod counts again, with a ``NotDeleted`` event); the
  budget is looked at again when the oldest entry expires;
- ``disruptionsAllowed`` = currentHealthy - desiredHealthy, never below 0, and 0 while no pods
  are expected; ``observedGeneration``; the ``DisruptionAllowed`` condition (SufficientPods /
  InsufficientPods).  A budget whose numbers cannot be worked out (a pod's controller is missing)
  gets ``disruptionsAllowed: 0`` and the condition False with reason ``SyncFailed``.

Status is written only when it changes.  Pods whose ``DisruptionTarget`` condition was set but
that were not deleted within two minutes get it reset to False (the eviction never happened).

``disruptedPods`` times are written by the apiserver, so their expiry is measured on wall time.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import label_selector_from_dict
from kubeling.client.store import BY_NAMESPACE, Obj, key_of
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.ownership import controller_ref
from kubeling.controllers.podutil import condition, is_ready, is_terminal, parse_time
from kubeling.controllers.resources import (
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    STATEFULSETS,
)

log = logging.getLogger(__name__)

DELETION_TIMEOUT = 120.0  # seconds an evicted pod may take to start terminating
STALE_DISRUPTION_TIMEOUT = 120.0
POD_KEY_PREFIX = "pod:"  # queue keys of pods whose DisruptionTarget may be stale
CONDITION_TYPE = "DisruptionAllowed"
UNMANAGED_MESSAGE = (
    "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. "
    "As a result, the status of the PDB cannot be calculated correctly, which may result in undefined "
    'behavior. To account for these pods please set ".spec.minAvailable" field of the PDB '
    "to an integer value."
)


class NoController(Exception):
    """A pod's controller (or its scale) could not be found."""


def scaled_value(value: int | str, total: int) -> int:
    """Upstream's GetScaledValueFromIntOrPercent with rounding up."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            raise ValueError(f"invalid value for IntOrString: invalid value {value!r}") from None
        return math.ceil(percent * total / 100)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")


def needs_scale(spec: Obj) -> bool:
    """Whether the budget's numbers depend on the controllers' scale (not just the pods found)."""
    if spec.get("maxUnavailable") is not None:
        return True
    return isinstance(spec.get("minAvailable"), str) and not str(spec["minAvailable"]).isdigit()


def expected_and_desired(spec: Obj, pods: list[Obj], expected_scale: int) -> tuple[int, int]:
    if spec.get("maxUnavailable") is not None:
        unavailable = scaled_value(spec["maxUnavailable"], expected_scale)
        return expected_scale, max(0, expected_scale - unavailable)
    minimum = spec.get("minAvailable")
    if minimum is None:
        return 0, 0
    if needs_scale(spec):
        return expected_scale, scaled_value(minimum, expected_scale)
    return len(pods), int(minimum)


def live_disruptions(pdb: Obj, pods: list[Obj], now: float) -> tuple[dict[str, str], float | None, list[Obj]]:
    """``disruptedPods`` entries still pending, when to look again, and the pods that overstayed."""
    listed = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    recheck: float | None = None
    overdue: list[Obj] = []
    for pod in pods:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp") or name not in listed:
            continue
        since = parse_time(listed[name])
        expires = (since or 0.0) + DELETION_TIMEOUT
        if expires < now:
            overdue.append(pod)
            continue
        kept[name] = listed[name]
        recheck = expires if recheck is None else min(recheck, expires)
    return kept, recheck, overdue


def current_healthy(pods: list[Obj], disrupted: dict[str, str]) -> int:
    return sum(
        1
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
        and pod["metadata"]["name"] not in disrupted
        and is_ready(pod)
    )


def with_condition(
    conditions: list[Obj], allowed: bool, generation: int, now: str, *, message: str = "", reason: str = ""
) -> list[Obj]:
    """``conditions`` with DisruptionAllowed set; the transition time moves only when the status does."""
    status = "True" if allowed else "False"
    reason = reason or ("SufficientPods" if allowed else "InsufficientPods")
    old = next((c for c in conditions if c.get("type") == CONDITION_TYPE), None)
    new = {
        "type": CONDITION_TYPE,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status else now,
        "reason": reason,
        "message": message,
    }
    return [c for c in conditions if c.get("type") != CONDITION_TYPE] + [new]


def build_status(
    pdb: Obj, *, healthy: int, desired: int, expected: int, disrupted: dict[str, str], now: str
) -> Obj:
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    generation = int(pdb["metadata"].get("generation") or 0)
    status: Obj = {
        "observedGeneration": generation,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "conditions": with_condition(
            (pdb.get("status") or {}).get("conditions") or [], allowed > 0, generation, now
        ),
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return status


def same_status(old: Obj, new: Obj) -> bool:
    def strip(status: Obj) -> Obj:
        return {k: v for k, v in status.items() if v not in (None, {}, [])}

    return strip(old) == strip(new)


def wall_rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


class DisruptionController(Controller):
    name = "disruption-controller"
    service_account = "disruption-controller"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.budgets = self.watch(PODDISRUPTIONBUDGETS)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._pod_changed,
            on_update=lambda _old, new: self._pod_changed(new),
            on_delete=self._pod_changed,
        )
        self.replicasets = self.informer(REPLICASETS)
        self.deployments = self.informer(DEPLOYMENTS)
        self.statefulsets = self.informer(STATEFULSETS)
        self.rcs = self.informer(REPLICATIONCONTROLLERS)
        self.wall = time.time  # disruptedPods carries the apiserver's wall-clock times
        self._scale_resources: dict[tuple[str, str], str | None] = {}  # (apiVersion, kind) → plural

    # -- handlers ---------------------------------------------------------------

    def _budgets_of(self, pod: Obj) -> list[Obj]:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        return [
            pdb
            for pdb in self.budgets.store.by_index(BY_NAMESPACE, namespace)
            if _selector_matches((pdb.get("spec") or {}).get("selector"), labels)
        ]

    def _pod_changed(self, pod: Obj) -> None:
        for pdb in self._budgets_of(pod):
            self.enqueue(pdb)
        cond = condition(pod, "DisruptionTarget")
        if cond is not None and cond.get("status") == "True":
            self.queue.add(POD_KEY_PREFIX + key_of(pod))

    # -- sync ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(POD_KEY_PREFIX):
            return await self._sync_stale_disruption(key.removeprefix(POD_KEY_PREFIX))
        pdb = self.budgets.store.get(key)
        if pdb is None:
            return None
        namespace, _ = split_key(key)
        spec = pdb.get("spec") or {}
        try:
            selector = label_selector_from_dict(spec.get("selector"))
        except StatusError as exc:
            self.recorder.event(pdb, "Warning", "NoPods", f"Failed to get pods: {exc.message}")
            return await self._fail_safe(pdb, exc.message)
        pods = [
            p
            for p in self.pods.store.by_index(BY_NAMESPACE, namespace)
            if selector.matches((p.get("metadata") or {}).get("labels"))
        ]
        if not pods:
            self.recorder.event(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            scale, unmanaged = await self._expected_scale(pods) if needs_scale(spec) else (0, [])
            expected, desired = expected_and_desired(spec, pods, scale)
        except (NoController, ValueError) as exc:
            self.recorder.event(
                pdb,
                "Warning",
                "CalculateExpectedPodCountFailed",
                f"Failed to calculate the number of expected pods: {exc}",
            )
            return await self._fail_safe(pdb, str(exc))
        if unmanaged:
            self.recorder.event(
                pdb,
                "Warning",
                "UnmanagedPods",
                UNMANAGED_MESSAGE.format(selector=spec.get("selector")),
            )
        now = self.wall()
        disrupted, recheck, overdue = live_disruptions(pdb, pods, now)
        for pod in overdue:
            self.recorder.event(
                pod, "Warning", "NotDeleted", f"Pod was expected by PDB {key} to be deleted but it wasn't"
            )
        status = build_status(
            pdb,
            healthy=current_healthy(pods, disrupted),
            desired=desired,
            expected=expected,
            disrupted=disrupted,
            now=wall_rfc3339(now),
        )
        await self._write_status(pdb, status)
        return None if recheck is None else max(recheck - now, 0.0) + 0.5

    async def _write_status(self, pdb: Obj, status: Obj) -> None:
        if same_status(pdb.get("status") or {}, status):
            return
        body = {**pdb, "status": status}
        meta = pdb["metadata"]
        # A stale resourceVersion answers 409, and the retry recomputes from a fresher cache.
        await self.client.update(
            PODDISRUPTIONBUDGETS, body, namespace=meta["namespace"], subresource="status"
        )

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        old = pdb.get("status") or {}
        status = {
            **old,
            "disruptionsAllowed": 0,
            "conditions": with_condition(
                old.get("conditions") or [],
                False,
                int(old.get("observedGeneration") or 0),
                wall_rfc3339(self.wall()),
                reason="SyncFailed",
                message=message,
            ),
        }
        await self._write_status(pdb, status)

    # -- the pods' controllers and their scale ------------------------------------

    async def _expected_scale(self, pods: list[Obj]) -> tuple[int, list[str]]:
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(pod["metadata"]["name"])
                continue
            if ref.get("uid") in scales:
                continue
            uid, replicas = await self._scale_of(ref, pod["metadata"]["namespace"])
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    async def _scale_of(self, ref: Obj, namespace: str) -> tuple[str, int]:
        """(controller uid, desired replicas) for a pod's controllerRef; a Deployment's RS counts as it."""
        kind, group = ref.get("kind"), _group(ref.get("apiVersion") or "")
        found = self._cached_scale(ref, namespace, kind, group)
        if found is not None:
            return found
        return await self._generic_scale(ref, namespace)

    def _cached_scale(self, ref: Obj, namespace: str, kind: Any, group: str) -> tuple[str, int] | None:
        stores = {
            ("ReplicaSet", "apps"): self.replicasets,
            ("StatefulSet", "apps"): self.statefulsets,
            ("ReplicationController", ""): self.rcs,
        }
        informer = stores.get((kind, group))
        if informer is None:
            return None
        owner = informer.store.get_by(name=ref["name"], namespace=namespace)
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            raise NoController(f"found no controllers for pod controlled by {kind} {ref['name']!r}")
        if kind == "ReplicaSet":
            parent = controller_ref(owner)
            if (
                parent is not None
                and parent.get("kind") == "Deployment"
                and _group(parent.get("apiVersion", "")) == "apps"
            ):
                deployment = self.deployments.store.get_by(name=parent["name"], namespace=namespace)
                if deployment is None or deployment["metadata"].get("uid") != parent.get("uid"):
                    raise NoController(
                        f"found no controllers for pod controlled by Deployment {parent['name']!r}"
                    )
                return deployment["metadata"]["uid"], _replicas(deployment)
        return owner["metadata"]["uid"], _replicas(owner)

    async def _generic_scale(self, ref: Obj, namespace: str) -> tuple[str, int]:
        api_version, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
        plural = await self._scale_resource(api_version, kind)
        if plural is None:
            raise NoController(f"{kind} of {api_version} does not implement the scale subresource")
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            scale = await self.client.request(
                "GET", f"{base}/namespaces/{namespace}/{plural}/{ref['name']}/scale"
            )
        except StatusError as exc:
            if exc.code == 404:
                raise NoController(
                    f"found no controllers for pod controlled by {kind} {ref['name']!r}"
                ) from None
            raise
        uid = (scale.get("metadata") or {}).get("uid") or ref.get("uid")
        if uid != ref.get("uid"):
            raise NoController(f"found no controllers for pod controlled by {kind} {ref['name']!r}")
        return uid, int((scale.get("spec") or {}).get("replicas") or 0)

    async def _scale_resource(self, api_version: str, kind: str) -> str | None:
        """The plural of ``kind`` if discovery lists a ``<plural>/scale`` subresource for it."""
        cache_key = (api_version, kind)
        if cache_key not in self._scale_resources:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                listing = await self.client.request("GET", path)
            except StatusError as exc:
                if exc.code == 404:
                    return None
                raise
            names = {r.get("name") for r in listing.get("resources") or []}
            plural = next(
                (
                    r["name"]
                    for r in listing.get("resources") or []
                    if r.get("kind") == kind and "/" not in r["name"]
                ),
                None,
            )
            self._scale_resources[cache_key] = plural if plural and f"{plural}/scale" in names else None
        return self._scale_resources[cache_key]

    # -- stale DisruptionTarget conditions ------------------------------------------

    async def _sync_stale_disruption(self, key: str) -> float | None:
        pod = self.pods.store.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp") or is_terminal(pod):
            return None
        cond = condition(pod, "DisruptionTarget")
        if cond is None or cond.get("status") != "True" or cond.get("reason") == "TerminationByKubelet":
            return None
        since = parse_time(cond.get("lastTransitionTime")) or 0.0
        wait = since + STALE_DISRUPTION_TIMEOUT - self.wall()
        if wait > 0:
            return wait
        meta = pod["metadata"]
        patch = {
            "metadata": {"uid": meta["uid"]},
            "status": {
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "False",
                        "reason": None,  # null drops the eviction's reason and message in the merge
                        "message": None,
                        "lastTransitionTime": wall_rfc3339(self.wall()),
                    }
                ]
            },
        }
        try:
            await self.client.patch(
                PODS,
                patch,
                name=meta["name"],
                namespace=meta["namespace"],
                subresource="status",
                patch_type="strategic",
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
        log.info("pod %s: reset a stale DisruptionTarget condition", key)
        return None


def _replicas(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    try:
        return label_selector_from_dict(selector).matches(labels)
    except StatusError:
        return False
