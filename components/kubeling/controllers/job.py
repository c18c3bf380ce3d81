"""The Job controller: runs pods until enough succeed, or gives up.

One sync of a Job (its key) reads the Job and the pods it controls from the
caches and, in order:

1. **counts finished pods.**  Every pod is created with the
   ``batch.kubernetes.io/job-tracking`` finalizer, so a finished pod cannot
   vanish before it is counted.  A newly finished pod's uid goes into
   ``status.uncountedTerminatedPods`` (succeeded or failed) and that is
   written first; then the finalizer is removed from the pod; then the uid
   moves from ``uncountedTerminatedPods`` into ``succeeded``/``failed``.  A
   crash between the steps loses nothing and counts nothing twice.  A pod
   being deleted before it succeeded counts as failed, as upstream.
2. **decides the Job's fate**: more failures than ``backoffLimit`` (or, for
   ``restartPolicy: OnFailure``, as many container restarts) →
   ``FailureTarget`` BackoffLimitExceeded; running longer than
   ``activeDeadlineSeconds`` → ``FailureTarget`` DeadlineExceeded; enough
   successes → ``SuccessCriteriaMet`` CompletionsReached.  Once such a target
   is set the remaining pods are deleted, and when none is left holding a
   finalizer or terminating the terminal ``Failed`` or ``Complete``
   condition follows (with ``completionTime`` for Complete), as 1.37 does.
3. **manages pods** while it runs: as many active pods as parallelism and
   the remaining completions allow, created in slow-start batches (1, 2, 4,
   …) with expectations so a stale cache never double-creates.  Indexed
   Jobs run each index in ``[0, completions)`` once, in pods named
   ``<job>-<index>-<random>`` with hostname ``<job>-<index>``.  A suspended
   Job deletes its active pods.  After failures, replacements wait an
   exponential backoff (10 s doubling to 6 min; the base is
   ``options.extra["job_backoff_base"]``).

``podFailurePolicy`` (FailJob, FailIndex, Ignore, Count on exit codes and
pod conditions) and ``successPolicy`` (Indexed) are honoured (see
:mod:`~kubeling.controllers.jobpolicy`).  ``backoffLimitPerIndex``
(Indexed) gives each index its own failure budget: replacements carry
``batch.kubernetes.io/job-index-failure-count``, an index over budget (or
hit by a FailIndex rule) joins ``status.failedIndexes`` and is not run
again; ``maxFailedIndexes`` exceeded, or every index completed or failed
with some failed, fails the Job (MaxFailedIndexesExceeded, FailedIndexes).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import label_selector_from_dict
from kubeling.client.store import BY_NAMESPACE, Obj, key_of
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.batchutil import (
    condition,
    has_condition,
    is_finished,
    new_condition,
    rfc3339,
    set_condition,
    wall_clock,
)
from kubeling.controllers.expectations import Expectations
from kubeling.controllers.jobindex import (
    COMPLETION_INDEX,
    format_indexes,
    indexes_to_create,
    parse_indexes,
    pod_index,
)
from kubeling.controllers.jobpolicy import match_pod_failure_policy, match_success_policy
from kubeling.controllers.ownership import claim, controller_ref
from kubeling.controllers.podutil import (
    deletion_rank,
    is_active,
    is_ready,
    is_terminal,
    parse_time,
    pod_from_template,
)
from kubeling.controllers.resources import JOBS, PODS

log = logging.getLogger(__name__)

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
MANAGED_BY = "kubernetes.io/job-controller"
BURST_REPLICAS = 500
DEFAULT_BACKOFF_BASE = 10.0
MAX_BACKOFF = 360.0

REASON_BACKOFF = "BackoffLimitExceeded"
REASON_DEADLINE = "DeadlineExceeded"
REASON_COMPLETIONS = "CompletionsReached"
REASON_POLICY = "PodFailurePolicy"
REASON_SUCCESS_POLICY = "SuccessPolicy"
REASON_FAILED_INDEXES = "FailedIndexes"
REASON_MAX_FAILED_INDEXES = "MaxFailedIndexesExceeded"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
MESSAGES = {
    REASON_BACKOFF: "Job has reached the specified backoff limit",
    REASON_DEADLINE: "Job was active longer than specified deadline",
    REASON_COMPLETIONS: "Reached expected number of succeeded pods",
    REASON_FAILED_INDEXES: "Job has failed indexes",
    REASON_MAX_FAILED_INDEXES: "Job has exceeded the specified maximal number of failed indexes",
}


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def is_deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def counts_as_failed(pod: Obj) -> bool:
    """Failed, or deleted before it could succeed (an orphan never reaches Failed)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase == "Failed" or (is_deleting(pod) and phase != "Succeeded")


def job_key_of_pod(pod: Obj) -> str | None:
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != "Job" or not str(ref.get("apiVersion", "")).startswith("batch/"):
        return None
    return f"{pod['metadata'].get('namespace')}/{ref['name']}"


def index_failures(pod: Obj) -> int:
    """How often this pod's index had failed before the pod was made (its annotation)."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_FAILURE_COUNT, "0")
    return int(raw) if raw.isdigit() else 0


def wanted_active(spec: Obj, succeeded: int, active: int) -> int:
    """How many pods should run now (upstream's manageJob arithmetic)."""
    parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
    completions = spec.get("completions")
    if completions is None:
        # A work-queue Job: once one pod succeeded, start no new ones.
        return active if succeeded > 0 else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


def past_backoff_limit(spec: Obj, failed: int, active_pods: list[Obj]) -> bool:
    limit = int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6)
    if failed > limit:
        return True
    template_spec = (spec.get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in active_pods:
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
    return restarts > 0 if limit == 0 else restarts >= limit


def is_complete(spec: Obj, succeeded: int, active: int) -> bool:
    completions = spec.get("completions")
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= int(completions)


def with_index(pod: Obj, job_name: str, index: int) -> Obj:
    """Make a pod body run completion ``index`` (annotation, label, name, hostname, env)."""
    meta, spec = pod["metadata"], pod["spec"]
    meta.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
    meta.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
    meta["generateName"] = f"{job_name}-{index}-"
    if not spec.get("hostname"):
        spec["hostname"] = f"{job_name}-{index}"
    env_var = {
        "name": "JOB_COMPLETION_INDEX",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}},
    }
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        env = container.setdefault("env", [])
        if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
            env.append(env_var)
    return pod


class JobController(Controller):
    name = "job-controller"
    service_account = "job-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.now = wall_clock(self.options)
        self.backoff_base = float(self.options.extra.get("job_backoff_base", DEFAULT_BACKOFF_BASE))
        self.expectations = Expectations(clock=self.clock)
        # uids whose finalizer we removed but whose update the cache has not shown yet.
        self.finalizers_removed: dict[str, set[str]] = {}
        # job key → (consecutive failures, monotonic time of the last one): replacement backoff.
        self.failures: dict[str, tuple[int, float]] = {}
        self.jobs = self.watch(JOBS)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )

    # -- events ------------------------------------------------------------------

    def _pod_added(self, pod: Obj) -> None:
        key = job_key_of_pod(pod)
        if key is None:
            return
        self.expectations.creation_observed(key)
        if is_deleting(pod):
            self.expectations.deletion_observed(key, key_of(pod))
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = job_key_of_pod(new)
        old_key = job_key_of_pod(old)
        if old_key is not None and old_key != key:
            self.queue.add(old_key)
        if key is None:
            return
        if is_deleting(new):
            self.expectations.deletion_observed(key, key_of(new))
        if not has_finalizer(new):
            self.finalizers_removed.get(key, set()).discard(new["metadata"].get("uid", ""))
        self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = job_key_of_pod(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, key_of(pod))
        self.finalizers_removed.get(key, set()).discard(pod["metadata"].get("uid", ""))
        self.queue.add(key)

    # -- sync --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        cached = self.jobs.store.get(key)
        if cached is None:
            self.expectations.delete(key)
            self.finalizers_removed.pop(key, None)
            self.failures.pop(key, None)
            await self._release_orphans(namespace, name, None)
            return None
        job = copy.deepcopy(cached)
        spec = job.get("spec") or {}
        if spec.get("managedBy", MANAGED_BY) != MANAGED_BY:
            return None  # another controller runs this Job
        await self._release_orphans(namespace, name, job["metadata"]["uid"])
        selector = label_selector_from_dict(spec.get("selector"))
        candidates = self.pods.store.by_index(BY_NAMESPACE, namespace)
        pods = await claim(
            self.client, PODS, job, selector, candidates, owner_api_version="batch/v1", owner_kind="Job"
        )
        if is_finished(job):
            await self._remove_finalizers([p for p in pods if has_finalizer(p)], key)
            return None
        if not self.expectations.satisfied(key):
            return None
        return await self._sync(key, job, pods)

    async def _sync(self, key: str, job: Obj, pods: list[Obj]) -> float | None:
        spec = job["spec"]
        status: Obj = copy.deepcopy(job.get("status") or {})
        now = self.now()
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        removed = self.finalizers_removed.setdefault(key, set())

        # 1. Newly finished pods become uncounted (recorded before their finalizer goes).
        uncounted = status.get("uncountedTerminatedPods") or {}
        unc_succeeded: list[str] = list(uncounted.get("succeeded") or [])
        unc_failed: list[str] = list(uncounted.get("failed") or [])
        completed = parse_indexes(status.get("completedIndexes"), completions) if indexed else set()
        per_index = indexed and spec.get("backoffLimitPerIndex") is not None
        failed_indexes = parse_indexes(status.get("failedIndexes"), completions) if per_index else set()
        to_finalize: list[Obj] = []
        new_failures = new_successes = 0
        target = self._target(status)
        fail_job_message: str | None = None
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if not has_finalizer(pod) or uid in removed:
                continue
            if uid in unc_succeeded or uid in unc_failed:
                to_finalize.append(pod)
            elif (pod.get("status") or {}).get("phase") == "Succeeded":
                index = pod_index(pod, completions) if indexed else None
                if not indexed or (index is not None and index not in completed):
                    unc_succeeded.append(uid)
                    new_successes += 1
                    if index is not None:
                        completed.add(index)
                to_finalize.append(pod)
            elif counts_as_failed(pod):
                to_finalize.append(pod)
                match = None
                if (pod.get("status") or {}).get("phase") == "Failed":
                    match = match_pod_failure_policy(spec.get("podFailurePolicy"), pod)
                elif target is not None and target["type"] == "SuccessCriteriaMet":
                    continue  # a lingering pod removed because the Job succeeded: no failure
                if match is not None and match.action == "Ignore":
                    continue  # its finalizer goes, but it never counts toward backoffLimit
                if match is not None and match.message and fail_job_message is None:
                    fail_job_message = match.message
                unc_failed.append(uid)
                new_failures += 1
                index = pod_index(pod, completions) if per_index else None
                if index is not None and (
                    index_failures(pod) + 1 > int(spec["backoffLimitPerIndex"])
                    or (match is not None and match.action == "FailIndex")
                ):
                    failed_indexes.add(index)
        self._note_failures(key, new_failures, new_successes)

        succeeded = len(completed) if indexed else int(status.get("succeeded") or 0) + len(unc_succeeded)
        failed = int(status.get("failed") or 0) + len(unc_failed)
        active = [p for p in pods if is_active(p)]

        # 2. The Job's fate.
        if target is None:
            fate = self._fate(
                spec, status, now, fail_job_message, failed, active, succeeded, completed, failed_indexes
            )
            if fate is not None:
                target = new_condition(*fate, now)
                set_condition(status, target)

        # 3. Pods.
        requeue: float | None = None
        if target is not None or spec.get("suspend"):
            await self._delete_pods(key, job, active)
            active = []
            if target is None:
                self._suspend(job, status, now)
        else:
            self._resume(job, status, now)
            if not status.get("startTime"):
                status["startTime"] = rfc3339(now)
            active, requeue = await self._manage(
                key, job, pods, active, succeeded, completed | failed_indexes
            )
            deadline = spec.get("activeDeadlineSeconds")
            start = _parse(status.get("startTime"))
            if deadline is not None and start is not None:
                remaining = start + int(deadline) - now
                requeue = min(requeue, remaining) if requeue is not None else remaining

        status["active"] = len(active)
        status["ready"] = len([p for p in active if is_ready(p)])
        status["terminating"] = len([p for p in pods if is_deleting(p) and not is_terminal(p)])
        status["uncountedTerminatedPods"] = _uncounted(unc_succeeded, unc_failed)
        if per_index:
            status["failedIndexes"] = format_indexes(failed_indexes)
        if indexed:
            status["completedIndexes"] = format_indexes(completed)
            status["succeeded"] = len(completed)
        status.setdefault("succeeded", int(status.get("succeeded") or 0))
        status.setdefault("failed", int(status.get("failed") or 0))
        job = await self._write_status(job, status)

        # 4. Finalizers off, then the counted pods move from uncounted to the counters.
        await self._remove_finalizers(to_finalize, key)
        # Settled: no pod of ours still holds the finalizer (removed now, earlier, or the pod is gone).
        holders = {
            p["metadata"]["uid"] for p in pods if has_finalizer(p) and p["metadata"]["uid"] not in removed
        }
        done = {u for u in unc_succeeded + unc_failed if u not in holders}
        status = copy.deepcopy(job.get("status") or {})
        if done:
            counted_succeeded = [u for u in unc_succeeded if u in done]
            counted_failed = [u for u in unc_failed if u in done]
            unc_succeeded = [u for u in unc_succeeded if u not in done]
            unc_failed = [u for u in unc_failed if u not in done]
            if not indexed:
                status["succeeded"] = int(status.get("succeeded") or 0) + len(counted_succeeded)
            status["failed"] = int(status.get("failed") or 0) + len(counted_failed)
            status["uncountedTerminatedPods"] = _uncounted(unc_succeeded, unc_failed)
        # The terminal condition waits until no pod of the Job may still be running (as 1.31+).
        terminating = any(is_deleting(p) and not is_terminal(p) for p in pods)
        if target is not None and not holders and not terminating and not unc_succeeded and not unc_failed:
            self._finish(job, status, target, now)
        await self._write_status(job, status)
        return max(requeue, 0.0) if requeue is not None else None

    # -- decisions ----------------------------------------------------------------

    @staticmethod
    def _target(status: Obj) -> Obj | None:
        for kind in ("FailureTarget", "SuccessCriteriaMet"):
            cond = condition({"status": status}, kind)
            if cond is not None and cond.get("status") == "True":
                return cond
        return None

    def _fate(
        self,
        spec: Obj,
        status: Obj,
        now: float,
        fail_job_message: str | None,
        failed: int,
        active: list[Obj],
        succeeded: int,
        completed: set[int],
        failed_indexes: set[int],
    ) -> tuple[str, str, str] | None:
        """(condition type, reason, message) of the target the Job reached, if any, in upstream's order."""
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        if fail_job_message is not None:
            return "FailureTarget", REASON_POLICY, fail_job_message
        if past_backoff_limit(spec, failed, active):
            return "FailureTarget", REASON_BACKOFF, MESSAGES[REASON_BACKOFF]
        if self._past_deadline(spec, status, now):
            return "FailureTarget", REASON_DEADLINE, MESSAGES[REASON_DEADLINE]
        if failed_indexes and completions is not None:
            most = spec.get("maxFailedIndexes")
            if most is not None and len(failed_indexes) > int(most):
                return "FailureTarget", REASON_MAX_FAILED_INDEXES, MESSAGES[REASON_MAX_FAILED_INDEXES]
            if len(completed | failed_indexes) >= int(completions):
                return "FailureTarget", REASON_FAILED_INDEXES, MESSAGES[REASON_FAILED_INDEXES]
        if indexed and completions is not None:
            message = match_success_policy(spec.get("successPolicy"), completed, int(completions))
            if message is not None:
                return "SuccessCriteriaMet", REASON_SUCCESS_POLICY, message
            if succeeded >= int(completions):
                return "SuccessCriteriaMet", REASON_COMPLETIONS, MESSAGES[REASON_COMPLETIONS]
        elif not indexed and is_complete(spec, succeeded, len(active)):
            return "SuccessCriteriaMet", REASON_COMPLETIONS, MESSAGES[REASON_COMPLETIONS]
        return None

    @staticmethod
    def _past_deadline(spec: Obj, status: Obj, now: float) -> bool:
        deadline = spec.get("activeDeadlineSeconds")
        start = _parse(status.get("startTime"))
        return deadline is not None and start is not None and now - start >= int(deadline)

    def _note_failures(self, key: str, failures: int, successes: int) -> None:
        count, _ = self.failures.get(key, (0, 0.0))
        if successes:
            count = 0  # upstream's backoff counts failures since the last success
        if failures:
            self.failures[key] = (count + failures, self.clock.now())
        elif successes:
            self.failures.pop(key, None)

    def _backoff_remaining(self, key: str) -> float:
        count, last = self.failures.get(key, (0, 0.0))
        if count == 0:
            return 0.0
        delay = min(self.backoff_base * 2 ** (count - 1), MAX_BACKOFF)
        return max(0.0, last + delay - self.clock.now())

    def _suspend(self, job: Obj, status: Obj, now: float) -> None:
        if not has_condition({"status": status}, "Suspended"):
            set_condition(status, new_condition("Suspended", "JobSuspended", "Job suspended", now))
            self.recorder.event(job, "Normal", "Suspended", "Job suspended")
        status.pop("startTime", None)  # the deadline clock restarts on resume

    def _resume(self, job: Obj, status: Obj, now: float) -> None:
        if has_condition({"status": status}, "Suspended"):
            set_condition(
                status, new_condition("Suspended", "JobResumed", "Job resumed", now, status="False")
            )
            self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            status["startTime"] = rfc3339(now)

    def _finish(self, job: Obj, status: Obj, target: Obj, now: float) -> None:
        reason, message = target.get("reason", ""), target.get("message", "")
        if target["type"] == "SuccessCriteriaMet":
            set_condition(status, new_condition("Complete", reason, message, now))
            status["completionTime"] = rfc3339(now)
            self.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            set_condition(status, new_condition("Failed", reason, message, now))
            self.recorder.event(job, "Warning", reason, message)

    # -- pods -----------------------------------------------------------------------

    async def _manage(
        self,
        key: str,
        job: Obj,
        pods: list[Obj],
        active: list[Obj],
        succeeded: int,
        done_indexes: set[int],
    ) -> tuple[list[Obj], float | None]:
        """Create or delete pods toward the wanted count; returns (active pods, requeue after).

        ``done_indexes`` are the indexes of an Indexed Job never to run again: completed or failed.
        """
        spec = job["spec"]
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        doomed: list[Obj] = []
        if indexed:
            # Pods without a valid index, of a completed index, or a second pod of an index go.
            seen: set[int] = set()
            keep: list[Obj] = []
            for pod in sorted(active, key=lambda p: p["metadata"].get("creationTimestamp", "")):
                index = pod_index(pod, completions)
                if index is None or index in done_indexes or index in seen:
                    doomed.append(pod)
                else:
                    seen.add(index)
                    keep.append(pod)
            active = keep
        want = wanted_active(spec, len(done_indexes) if indexed else succeeded, len(active))
        if len(active) > want:
            ranked = sorted(active, key=deletion_rank)
            doomed += ranked[: len(active) - want]
            active = ranked[len(active) - want :]
        if doomed:
            await self._delete_pods(key, job, doomed)
            return active, None
        diff = want - len(active)
        if spec.get("podReplacementPolicy") == "Failed":
            # Replacements wait until a terminating pod has really failed.
            diff -= len([p for p in pods if is_deleting(p) and not is_terminal(p)])
        diff = min(diff, BURST_REPLICAS)
        if diff <= 0:
            return active, None
        wait = self._backoff_remaining(key)
        if wait > 0:
            return active, wait
        if indexed and completions is not None:
            running = {i for p in active if (i := pod_index(p, completions)) is not None}
            indexes: list[int | None] = list(indexes_to_create(int(completions), done_indexes, running, diff))
        else:
            indexes = [None] * diff
        failures: dict[int, int] = {}
        if indexed and spec.get("backoffLimitPerIndex") is not None:
            # A replacement carries how often its index has failed, read from the failed pods.
            for pod in pods:
                index = pod_index(pod, completions)
                if index is not None and counts_as_failed(pod):
                    failures[index] = max(failures.get(index, 0), index_failures(pod) + 1)
            failures = {i: failures.get(i, 0) for i in indexes if i is not None}
        created = await self._create_pods(key, job, indexes, failures)
        return active + created, None

    async def _create_pods(
        self, key: str, job: Obj, indexes: list[int | None], failures: dict[int, int]
    ) -> list[Obj]:
        """Create in slow-start batches (1, 2, 4, ...); stop at the first failing batch."""
        created: list[Obj] = []
        self.expectations.expect_creations(key, len(indexes))
        batch, start = 1, 0
        while start < len(indexes):
            chunk = indexes[start : start + batch]
            results = [await self._create_one(job, index, failures.get(index)) for index in chunk]
            made = [r for r in results if isinstance(r, dict)]
            created += made
            for _ in range(len(chunk) - len(made)):
                self.expectations.creation_observed(key)  # its event will never come
            start += len(chunk)
            if len(made) < len(chunk):
                for _ in range(len(indexes) - start):
                    self.expectations.creation_observed(key)
                break
            batch *= 2
        return created

    async def _create_one(self, job: Obj, index: int | None, failures: int | None) -> Obj | None:
        meta = job["metadata"]
        pod = pod_from_template(job["spec"]["template"], job, owner_api_version="batch/v1", owner_kind="Job")
        finalizers = pod["metadata"].setdefault("finalizers", [])
        if TRACKING_FINALIZER not in finalizers:
            finalizers.append(TRACKING_FINALIZER)
        if index is not None:
            with_index(pod, meta["name"], index)
            if failures is not None:
                pod["metadata"]["annotations"][INDEX_FAILURE_COUNT] = str(failures)
        try:
            made = await self.client.create(PODS, pod, namespace=meta["namespace"])
        except StatusError as exc:
            self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {exc}")
            if exc.code in (403, 404, 409, 422):
                return None  # a terminating namespace, quota, or a bad template: retried by requeue
            raise
        self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created pod: {made['metadata']['name']}")
        return made

    async def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
        if not pods:
            return
        self.expectations.expect_deletions(key, [key_of(p) for p in pods])
        for pod in pods:
            meta = pod["metadata"]
            try:
                await self.client.delete(
                    PODS, name=meta["name"], namespace=meta["namespace"], preconditions={"uid": meta["uid"]}
                )
            except StatusError as exc:
                self.expectations.deletion_observed(key, key_of(pod))
                if exc.code not in (404, 409):
                    raise
                continue
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    async def _remove_finalizers(self, pods: list[Obj], key: str) -> set[str]:
        """Take the tracking finalizer off ``pods``; returns the uids that no longer hold it."""
        done: set[str] = set()
        removed = self.finalizers_removed.setdefault(key, set())
        for pod in pods:
            meta = pod["metadata"]
            patch = {
                "metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER], "uid": meta["uid"]}
            }
            try:
                await self.client.patch(
                    PODS, patch, name=meta["name"], namespace=meta["namespace"], patch_type="strategic"
                )
            except StatusError as exc:
                if exc.code not in (404, 409, 422):
                    raise
                if exc.code != 404:
                    continue  # a namesake replaced it: not ours to count
            done.add(meta["uid"])
            removed.add(meta["uid"])
        return done

    async def _release_orphans(self, namespace: str, name: str, uid: str | None) -> None:
        """Pods of a gone Job (or of a namesake) must not keep the tracking finalizer forever."""
        orphans = [
            p
            for p in self.pods.store.by_index(BY_NAMESPACE, namespace)
            if has_finalizer(p)
            and (ref := controller_ref(p)) is not None
            and ref.get("kind") == "Job"
            and ref.get("name") == name
            and ref.get("uid") != uid
        ]
        if orphans:
            await self._remove_finalizers(orphans, f"{namespace}/{name}")

    async def _write_status(self, job: Obj, status: Obj) -> Obj:
        if status == (job.get("status") or {}):
            return job
        body = {**job, "status": status}
        meta = job["metadata"]
        return await self.client.update(
            JOBS, body, namespace=meta["namespace"], name=meta["name"], subresource="status"
        )


def _uncounted(succeeded: list[str], failed: list[str]) -> Obj:
    body: Obj = {}
    if succeeded:
        body["succeeded"] = succeeded
    if failed:
        body["failed"] = failed
    return body


def _parse(value: Any) -> float | None:
    return parse_time(value) if isinstance(value, str) else None
