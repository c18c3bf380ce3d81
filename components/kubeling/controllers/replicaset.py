"""ReplicaSets and ReplicationControllers: keep ``spec.replicas`` pods matching a selector alive.

One implementation serves both kinds (upstream's ReplicationManager is the
ReplicaSet controller behind an adapter); the kinds differ only in where
they live and in the shape of their selector.  A sync

1. claims pods: the active pods of the namespace it controls, adopting
   matching orphans and releasing pods whose labels no longer match;
2. if the expectations of the last sync have been met (the informer has
   seen every create and delete it made), creates the missing pods in
   slow-start batches (1, 2, 4, ...; a failing batch stops the rest) or
   deletes the surplus, worst pods first (:func:`podutil.deletion_rank`),
   at most ``BURST_REPLICAS`` per sync;
3. writes the status computed from the claimed pods through ``/status``,
   with a ``ReplicaFailure`` condition while creates or deletes fail;
4. asks to be looked at again after ``minReadySeconds`` while ready pods
   are not yet available.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from kubeling.api.errors import StatusError
from kubeling.api.selectors import LabelSelector, label_selector_from_dict
from kubeling.client.paths import ResourceLike
from kubeling.client.store import BY_NAMESPACE, Obj, key_of
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.expectations import Expectations
from kubeling.controllers.ownership import claim, controller_ref, labels_of
from kubeling.controllers.podutil import (
    condition,
    deletion_rank,
    is_active,
    is_available,
    is_ready,
    now_rfc3339,
    pod_from_template,
)
from kubeling.controllers.resources import PODS, REPLICASETS, REPLICATIONCONTROLLERS

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # upstream's BurstReplicas: most creates or deletes per sync
SLOW_START_INITIAL_BATCH = 1
POD_CONTROLLER_INDEX = "workloads:pod-controller-uid"
FAILURE_CONDITION = "ReplicaFailure"


def pod_controller_uid(pod: Obj) -> list[str]:
    ref = controller_ref(pod)
    return [ref["uid"]] if ref and ref.get("uid") else []


async def slow_start_batch(
    count: int, initial: int, call: Callable[[], Awaitable[None]]
) -> tuple[int, Exception | None]:
    """Run ``call`` ``count`` times in growing batches (1, 2, 4, ...); stop after a batch with an error.

    Returns how many calls succeeded and the first error.  Upstream's slowStartBatch: a
    create that fails (quota, admission) most likely fails for all, so few are wasted.
    """
    remaining, batch, successes = count, min(count, initial), 0
    while batch > 0:
        results = await asyncio.gather(*(call() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]  # type: ignore[return-value]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def fully_labeled(pod: Obj, template_labels: dict[str, str]) -> bool:
    labels = labels_of(pod)
    return all(labels.get(k) == v for k, v in template_labels.items())


def calculate_status(
    owner: Obj, pods: list[Obj], manage_error: Exception | None, failure_reason: str, now: float
) -> Obj:
    """The status a sync writes: counts over the claimed active pods plus the failure condition."""
    spec = owner.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status = copy.deepcopy(owner.get("status") or {})
    status.update(
        replicas=len(pods),
        fullyLabeledReplicas=sum(1 for p in pods if fully_labeled(p, template_labels)),
        readyReplicas=sum(1 for p in pods if is_ready(p)),
        availableReplicas=sum(1 for p in pods if is_available(p, min_ready, now)),
        observedGeneration=(owner.get("metadata") or {}).get("generation", 0),
    )
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != FAILURE_CONDITION]
    failure = condition(owner, FAILURE_CONDITION)
    if manage_error is not None:
        if failure is None:
            failure = {
                "type": FAILURE_CONDITION,
                "status": "True",
                "lastTransitionTime": now_rfc3339(),
                "reason": failure_reason,
                "message": str(manage_error),
            }
        conditions.append(failure)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    service_account = "replicaset-controller"
    component = "replicaset-controller"
    owner_resource: ClassVar[ResourceLike] = REPLICASETS
    owner_kind: ClassVar[str] = "ReplicaSet"
    owner_api_version: ClassVar[str] = "apps/v1"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = Expectations(clock=self.clock)
        self.burst_replicas = int(self.options.extra.get("burst_replicas", BURST_REPLICAS))
        self.owners = self.informer(self.owner_resource)
        self.owners.add_event_handler(
            on_add=self.enqueue, on_update=self._owner_updated, on_delete=self._owner_deleted
        )
        self.pods = self.informer(PODS, indexers={POD_CONTROLLER_INDEX: pod_controller_uid})
        self.pods.add_event_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )

    # -- the selector of one kind ------------------------------------------------

    def selector_of(self, owner: Obj) -> LabelSelector:
        return label_selector_from_dict((owner.get("spec") or {}).get("selector"))

    # -- event handlers: turn events into keys -----------------------------------

    def _owner_updated(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def _owner_deleted(self, owner: Obj) -> None:
        self.expectations.delete(key_of(owner))
        self.enqueue(owner)

    def _owner_of(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != self.owner_kind:
            return None
        owner = self.owners.store.get_by(name=ref.get("name", ""), namespace=pod["metadata"].get("namespace"))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return owner

    def _enqueue_selecting(self, pod: Obj) -> None:
        """An orphan: every owner whose selector matches may want to adopt it."""
        labels = labels_of(pod)
        for owner in self.owners.store.by_index(BY_NAMESPACE, pod["metadata"].get("namespace") or ""):
            selector = self.selector_of(owner)
            if not selector.empty and selector.matches(labels):
                self.enqueue(owner)

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)  # came back from a relist already being deleted
            return
        if controller_ref(pod) is not None:
            owner = self._owner_of(pod)
            if owner is not None:
                self.expectations.creation_observed(key_of(owner))
                self.enqueue(owner)
            return
        self._enqueue_selecting(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync
        if new["metadata"].get("deletionTimestamp"):
            # Graceful deletion: the pod stops counting now, not when it is finally gone.
            self._pod_deleted(new)
            if labels_of(old) != labels_of(new):
                self._enqueue_selecting(old)
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.get("uid") != new_ref.get("uid")):
            previous = self._owner_of(old)
            if previous is not None:
                self.enqueue(previous)
        if new_ref is not None:
            owner = self._owner_of(new)
            if owner is not None:
                self.enqueue(owner)
                min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
                if min_ready > 0 and not is_ready(old) and is_ready(new):
                    # Look again when the pod becomes available (upstream adds a second for clock skew).
                    self.enqueue_after(owner, min_ready + 1)
            return
        if labels_of(old) != labels_of(new) or old_ref is not None:
            self._enqueue_selecting(new)

    def _pod_deleted(self, pod: Obj) -> None:
        owner = self._owner_of(pod)
        if owner is None:
            return
        key = key_of(owner)
        self.expectations.deletion_observed(key, key_of(pod))
        self.enqueue(owner)

    # -- sync ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        owner = self.owners.store.get(key)
        if owner is None:
            self.expectations.delete(key)
            return None
        selector = self.selector_of(owner)
        namespace = owner["metadata"]["namespace"]
        candidates = [p for p in self.pods.store.by_index(BY_NAMESPACE, namespace) if is_active(p)]
        pods = await claim(
            self.client,
            PODS,
            owner,
            selector,
            candidates,
            owner_api_version=self.owner_api_version,
            owner_kind=self.owner_kind,
        )
        manage_error: Exception | None = None
        failure_reason = "FailedCreate"
        if self.expectations.satisfied(key) and not owner["metadata"].get("deletionTimestamp"):
            try:
                await self._manage(key, owner, pods)
            except _ManageError as exc:
                manage_error, failure_reason = exc.cause, exc.reason
        now = time.time()  # pod timestamps are wall-clock
        status = calculate_status(owner, pods, manage_error, failure_reason, now)
        written = await self._write_status(owner, status)
        if manage_error is not None:
            raise manage_error  # retried with backoff, as upstream returns the error
        spec = owner.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        min_ready = int(spec.get("minReadySeconds") or 0)
        final = (written or owner).get("status") or status
        if (
            min_ready > 0
            and final.get("readyReplicas") == replicas
            and final.get("availableReplicas") != replicas
        ):
            return float(min_ready)
        return None

    async def _manage(self, key: str, owner: Obj, pods: list[Obj]) -> None:
        replicas = int((owner.get("spec") or {}).get("replicas", 1))
        diff = len(pods) - replicas
        if diff < 0:
            await self._create(key, owner, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete(key, owner, pods, min(diff, self.burst_replicas))

    async def _create(self, key: str, owner: Obj, count: int) -> None:
        namespace = owner["metadata"]["namespace"]
        template = (owner.get("spec") or {}).get("template") or {}
        self.expectations.expect_creations(key, count)

        async def create_one() -> None:
            body = pod_from_template(
                template, owner, owner_api_version=self.owner_api_version, owner_kind=self.owner_kind
            )
            try:
                pod = await self.client.create(PODS, body, namespace=namespace)
            except StatusError as exc:
                if _namespace_terminating(exc):
                    return  # every create would fail; not an error of ours
                self.recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {exc}")
                raise
            self.recorder.event(
                owner, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}"
            )

        successes, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH, create_one)
        for _ in range(count - successes):
            self.expectations.creation_observed(key)  # creates never made (or failed) will never be seen
        if error is not None:
            raise _ManageError(error, "FailedCreate")

    async def _delete(self, key: str, owner: Obj, pods: list[Obj], count: int) -> None:
        victims = sorted(pods, key=deletion_rank)[:count]
        self.expectations.expect_deletions(key, [key_of(p) for p in victims])

        async def delete_one(pod: Obj) -> None:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, name=meta["name"], namespace=meta["namespace"])
            except StatusError as exc:
                self.expectations.deletion_observed(key, key_of(pod))
                if exc.code == 404:
                    return  # already gone: what we wanted
                self.recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {exc}")
                raise
            self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

        results = await asyncio.gather(*(delete_one(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise _ManageError(result, "FailedDelete")
            if isinstance(result, BaseException):
                raise result

    async def _write_status(self, owner: Obj, status: Obj) -> Obj | None:
        if status == (owner.get("status") or {}):
            return None
        body = {**owner, "status": status}
        meta = owner["metadata"]
        try:
            return await self.client.update(
                self.owner_resource, body, namespace=meta["namespace"], subresource="status"
            )
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller-controller"
    service_account = "replication-controller"
    component = "replication-controller"
    owner_resource = REPLICATIONCONTROLLERS
    owner_kind = "ReplicationController"
    owner_api_version = "v1"

    def selector_of(self, owner: Obj) -> LabelSelector:
        # A ReplicationController's selector is a plain map (defaulted from the template's labels).
        selector = (owner.get("spec") or {}).get("selector") or {}
        return label_selector_from_dict({"matchLabels": dict(selector)})


class _ManageError(Exception):
    def __init__(self, cause: Exception, reason: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.reason = reason


def _namespace_terminating(exc: StatusError) -> bool:
    causes: list[dict[str, Any]] = (exc.details or {}).get("causes") or []
    return exc.code == 403 and any(c.get("reason") == "NamespaceTerminating" for c in causes)
