"""The CronJob controller: a Job per schedule time, and a short history of finished ones.

One sync of a CronJob (its key), as upstream's cronjob controller v2:

1. **reconcile the active list** with the Jobs it controls (from the Job
   cache): finished Jobs leave ``status.active`` (event SawCompletedJob) and
   move ``lastSuccessfulTime`` forward when they completed; Jobs listed but
   gone (confirmed by a live GET) are dropped; unfinished Jobs it controls
   but does not list raise an UnexpectedJob event.
2. **decide whether a run is due**: the latest schedule time between
   ``lastScheduleTime`` (or the creation time), clipped by
   ``startingDeadlineSeconds``, and now.  More than 100 missed times give a
   TooManyMissedTimes warning (the latest one still runs).  Suspended
   CronJobs and CronJobs being deleted start nothing.
3. **honour concurrencyPolicy**: Forbid skips the run while a Job is
   active; Replace deletes the active Jobs (background propagation) first.
4. **create the Job** ``<cronjob>-<scheduled time in minutes since epoch>``
   from ``jobTemplate``, with the ``batch.kubernetes.io/cronjob-scheduled-timestamp``
   annotation, and record it in ``status.active`` and ``lastScheduleTime``.
5. **trim history**: finished Jobs beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit`` are deleted, oldest first.

It then asks to be woken at the next schedule time (plus 100 ms, as
upstream).  "Now" comes from :func:`~kubeling.controllers.batchutil.wall_clock`,
so tests can shift it.  Schedules are read in ``spec.timeZone`` (or a
``CRON_TZ=`` prefix), else UTC.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, tzinfo
from email.utils import format_datetime

from kubeling.api.errors import StatusError
from kubeling.client.store import BY_NAMESPACE, Obj
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.batchutil import finish_time, finished_condition, rfc3339, wall_clock
from kubeling.controllers.cronschedule import Schedule, ScheduleError, load_zone, parse
from kubeling.controllers.ownership import controller_ref, new_controller_ref
from kubeling.controllers.podutil import parse_time
from kubeling.controllers.resources import CRONJOBS, JOBS

log = logging.getLogger(__name__)

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100
NEXT_RUN_SLACK = 0.1


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """``<cronjob>-<minutes since the epoch>``: one name per schedule time, so a run is never doubled."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def most_recent_schedule(
    schedule: Schedule, earliest: datetime, now: datetime, zone: tzinfo | None
) -> tuple[datetime | None, int]:
    """(the latest schedule time in ``(earliest, now]``, roughly how many there were).

    The count is estimated from the gap between the first two times, as
    upstream does, so a schedule years behind costs no walk through every
    missed minute.
    """
    first = schedule.next(earliest, zone)
    if first is None or first > now:
        return None, 0
    second = schedule.next(first, zone)
    if second is None or second > now:
        return first, 1
    interval = round((second - first).total_seconds())
    if interval < 1:
        return None, 0
    missed = int((now - first).total_seconds()) // interval + 1
    # Jump near the end, then walk: exact for irregular schedules (30 6-16/4 * * 1-5).
    start = first.timestamp() + (missed - 2) * interval
    moment: datetime | None = schedule.next(datetime.fromtimestamp(max(start, first.timestamp()), UTC), zone)
    latest = first
    while moment is not None and moment <= now:
        latest = moment
        moment = schedule.next(moment, zone)
    return latest, missed


def job_from_template(cronjob: Obj, scheduled: datetime, zone: tzinfo | None) -> Obj:
    template = cronjob["spec"].get("jobTemplate") or {}
    meta = template.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    stamp = scheduled.astimezone(zone or UTC)
    annotations[SCHEDULED_TIMESTAMP] = stamp.isoformat().replace("+00:00", "Z")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(cronjob["metadata"]["name"], scheduled),
            "namespace": cronjob["metadata"]["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [new_controller_ref(cronjob, api_version="batch/v1", kind="CronJob")],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def job_reference(job: Obj) -> Obj:
    meta = job["metadata"]
    return {
        "kind": "Job",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": "batch/v1",
        "resourceVersion": meta.get("resourceVersion", ""),
    }


def cronjob_key_of_job(job: Obj) -> str | None:
    ref = controller_ref(job)
    if ref is None or ref.get("kind") != "CronJob":
        return None
    return f"{job['metadata'].get('namespace')}/{ref['name']}"


class CronJobController(Controller):
    name = "cronjob-controller"
    service_account = "cronjob-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.now = wall_clock(self.options)
        self.cronjobs = self.watch(CRONJOBS)
        self.jobs = self.informer(JOBS)
        self.jobs.add_event_handler(
            on_add=self._job_changed,
            on_update=lambda _old, new: self._job_changed(new),
            on_delete=self._job_changed,
        )

    def _job_changed(self, job: Obj) -> None:
        key = cronjob_key_of_job(job)
        if key is not None:
            self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
        cached = self.cronjobs.store.get(key)
        if cached is None:
            return None
        cronjob = copy.deepcopy(cached)
        status: Obj = copy.deepcopy(cronjob.get("status") or {})
        namespace, _ = split_key(key)
        uid = cronjob["metadata"]["uid"]
        children = [
            j
            for j in self.jobs.store.by_index(BY_NAMESPACE, namespace)
            if (ref := controller_ref(j)) is not None and ref.get("uid") == uid
        ]
        await self._sync_active(cronjob, status, children)
        requeue = await self._maybe_run(cronjob, status, children)
        await self._write_status(cronjob, status)
        await self._trim_history(cronjob, children)
        return requeue

    # -- 1. active list ---------------------------------------------------------------

    async def _sync_active(self, cronjob: Obj, status: Obj, children: list[Obj]) -> None:
        active: list[Obj] = list(status.get("active") or [])
        listed = {ref.get("uid") for ref in active}
        for job in children:
            job_uid = job["metadata"]["uid"]
            finished = finished_condition(job)
            if job_uid not in listed and finished is None:
                self.recorder.event(
                    cronjob,
                    "Warning",
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}",
                )
                continue
            if finished is None:
                continue
            if job_uid in listed:
                active = [ref for ref in active if ref.get("uid") != job_uid]
                self.recorder.event(
                    cronjob,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {job['metadata']['name']}, condition: {finished['type']}",
                )
            if finished["type"] == "Complete":
                done = parse_time((job.get("status") or {}).get("completionTime")) or finish_time(job)
                last = parse_time(status.get("lastSuccessfulTime"))
                if done is not None and (last is None or done > last):
                    status["lastSuccessfulTime"] = rfc3339(done)
        known = {j["metadata"]["uid"] for j in children}
        kept: list[Obj] = []
        for ref in active:
            if ref.get("uid") in known or not await self._gone(ref):
                kept.append(ref)
        if kept:
            status["active"] = kept
        else:
            status.pop("active", None)

    async def _gone(self, ref: Obj) -> bool:
        """A listed Job missing from the cache: ask the server before forgetting it."""
        try:
            job = await self.client.get(JOBS, name=ref["name"], namespace=ref["namespace"])
        except StatusError as exc:
            if exc.code == 404:
                return True
            raise
        return job["metadata"]["uid"] != ref.get("uid")

    # -- 2-4. running ---------------------------------------------------------------

    async def _maybe_run(self, cronjob: Obj, status: Obj, children: list[Obj]) -> float | None:
        spec = cronjob.get("spec") or {}
        if cronjob["metadata"].get("deletionTimestamp"):
            return None
        zone: tzinfo | None = None
        if spec.get("timeZone"):
            try:
                zone = load_zone(spec["timeZone"])
            except ScheduleError as exc:
                message = f"invalid timeZone: {spec['timeZone']!r}: {exc}"
                self.recorder.event(cronjob, "Warning", "UnknownTimeZone", message)
                return None
        try:
            schedule = parse(spec.get("schedule", ""))
        except ScheduleError as exc:
            message = f"unparseable schedule: {spec.get('schedule', '')!r} : {exc}"
            self.recorder.event(cronjob, "Warning", "UnparseableSchedule", message)
            return None
        if spec.get("suspend"):
            return None
        now = datetime.fromtimestamp(self.now(), UTC)
        scheduled = self._due(cronjob, status, schedule, now, zone)
        if scheduled is None:
            return self._until_next(schedule, now, zone)
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled.timestamp() + int(deadline) < now.timestamp():
            when = format_datetime(scheduled.astimezone(zone or UTC))
            self.recorder.event(
                cronjob, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}"
            )
            return self._until_next(schedule, now, zone)
        name = job_name(cronjob["metadata"]["name"], scheduled)
        last = parse_time(status.get("lastScheduleTime"))
        if any(ref.get("name") == name for ref in status.get("active") or []) or (
            last is not None and int(last) == int(scheduled.timestamp())
        ):
            return self._until_next(schedule, now, zone)
        active = list(status.get("active") or [])
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            message = "Not starting job because prior execution is running and concurrency policy is Forbid"
            self.recorder.event(cronjob, "Normal", "JobAlreadyActive", message)
            return self._until_next(schedule, now, zone)
        if policy == "Replace":
            for ref in active:
                await self._delete_job(cronjob, ref["name"], ref["namespace"])
            status.pop("active", None)
        body = job_from_template(cronjob, scheduled, zone)
        try:
            job = await self.client.create(JOBS, body, namespace=cronjob["metadata"]["namespace"])
        except StatusError as exc:
            if exc.code != 409:
                self.recorder.event(cronjob, "Warning", "FailedCreate", f"Error creating job: {exc}")
                if exc.code in (403, 422):
                    return self._until_next(schedule, now, zone)
                raise
            # Made already: by us before a status write was lost, or by someone else.
            job = await self.client.get(
                JOBS, name=body["metadata"]["name"], namespace=body["metadata"]["namespace"]
            )
            if (ref := controller_ref(job)) is None or ref.get("uid") != cronjob["metadata"]["uid"]:
                return self._until_next(schedule, now, zone)
        else:
            self.recorder.event(
                cronjob, "Normal", "SuccessfulCreate", f"Created job {job['metadata']['name']}"
            )
        if finished_condition(job) is None:
            status["active"] = [*(status.get("active") or []), job_reference(job)]
        status["lastScheduleTime"] = rfc3339(scheduled.timestamp())
        return self._until_next(schedule, now, zone)

    def _due(
        self, cronjob: Obj, status: Obj, schedule: Schedule, now: datetime, zone: tzinfo | None
    ) -> datetime | None:
        earliest = parse_time(status.get("lastScheduleTime")) or parse_time(
            cronjob["metadata"].get("creationTimestamp")
        )
        if earliest is None:
            return None
        deadline = (cronjob.get("spec") or {}).get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now.timestamp() - int(deadline))
        if earliest > now.timestamp():
            return None
        scheduled, missed = most_recent_schedule(schedule, datetime.fromtimestamp(earliest, UTC), now, zone)
        if missed > MAX_MISSED:
            message = (
                f"too many missed start times: {missed}. "
                "Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            )
            self.recorder.event(cronjob, "Warning", "TooManyMissedTimes", message)
        return scheduled

    @staticmethod
    def _until_next(schedule: Schedule, now: datetime, zone: tzinfo | None) -> float | None:
        upcoming = schedule.next(now, zone)
        if upcoming is None:
            return None
        return max(0.0, (upcoming - now).total_seconds()) + NEXT_RUN_SLACK

    # -- 5. history -----------------------------------------------------------------

    async def _trim_history(self, cronjob: Obj, children: list[Obj]) -> None:
        spec = cronjob.get("spec") or {}
        for kind, limit_key in (
            ("Complete", "successfulJobsHistoryLimit"),
            ("Failed", "failedJobsHistoryLimit"),
        ):
            limit = spec.get(limit_key)
            if limit is None:
                continue
            finished = [j for j in children if (c := finished_condition(j)) is not None and c["type"] == kind]
            if len(finished) <= int(limit):
                continue
            finished.sort(key=_started)
            for job in finished[: len(finished) - int(limit)]:
                await self._delete_job(cronjob, job["metadata"]["name"], job["metadata"]["namespace"])

    async def _delete_job(self, cronjob: Obj, name: str, namespace: str) -> None:
        try:
            await self.client.delete(JOBS, name=name, namespace=namespace, propagation_policy="Background")
        except StatusError as exc:
            if exc.code != 404:
                self.recorder.event(cronjob, "Warning", "FailedDelete", f"Deleted job: {exc}")
                raise
            return
        self.recorder.event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {name}")

    async def _write_status(self, cronjob: Obj, status: Obj) -> None:
        if status == (cronjob.get("status") or {}):
            return
        meta = cronjob["metadata"]
        body = {**cronjob, "status": status}
        await self.client.update(
            CRONJOBS, body, namespace=meta["namespace"], name=meta["name"], subresource="status"
        )


def _started(job: Obj) -> tuple[float, str]:
    status = job.get("status") or {}
    when = parse_time(status.get("startTime")) or parse_time(job["metadata"].get("creationTimestamp")) or 0.0
    return when, job["metadata"]["name"]
