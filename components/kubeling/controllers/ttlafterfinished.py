"""The TTL-after-finished controller: deletes finished Jobs ``ttlSecondsAfterFinished`` after they finished.

A Job is looked at when it changes; if it has a TTL and is finished
(``Complete`` or ``Failed`` condition True), its expiry is the finished
condition's ``lastTransitionTime`` plus the TTL.  Before then the key is
requeued for exactly the time left; at or after it, the Job is read again
from the server (the TTL may have been changed or removed meanwhile) and
deleted with foreground propagation and a uid precondition, as upstream —
its pods go first, through the garbage collector.  Time is the wall clock
of :func:`~kubeling.controllers.batchutil.wall_clock`.
"""

from __future__ import annotations

import logging

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.batchutil import finish_time, is_finished, wall_clock
from kubeling.controllers.resources import JOBS

log = logging.getLogger(__name__)


def needs_cleanup(job: Obj) -> bool:
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    return ttl is not None and not (job.get("metadata") or {}).get("deletionTimestamp") and is_finished(job)


def time_left(job: Obj, now: float) -> float | None:
    """Seconds until the Job expires (<= 0: expired); None when it has no TTL or is not finished."""
    if not needs_cleanup(job):
        return None
    finished = finish_time(job)
    if finished is None:
        return None
    if finished > now:
        log.warning("job %s finished in the future (clock skew?)", job["metadata"].get("name"))
    return finished + int(job["spec"]["ttlSecondsAfterFinished"]) - now


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished-controller"
    service_account = "ttl-after-finished-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.now = wall_clock(self.options)
        self.jobs = self.informer(JOBS)
        self.jobs.add_event_handler(on_add=self._changed, on_update=lambda _old, new: self._changed(new))

    def _changed(self, job: Obj) -> None:
        if needs_cleanup(job):
            self.enqueue(job)

    async def reconcile(self, key: str) -> float | None:
        cached = self.jobs.store.get(key)
        if cached is None:
            return None
        left = time_left(cached, self.now())
        if left is None:
            return None
        if left > 0:
            return left
        namespace, name = split_key(key)
        try:
            fresh = await self.client.get(JOBS, name=name, namespace=namespace)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise
        left = time_left(fresh, self.now())
        if left is None:
            return None
        if left > 0:
            return left
        log.info("cleaning up job %s (TTL expired)", key)
        try:
            await self.client.delete(
                JOBS,
                name=name,
                namespace=namespace,
                propagation_policy="Foreground",
                preconditions={"uid": fresh["metadata"]["uid"]},
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
        return None
