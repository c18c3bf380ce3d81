"""Leader election on ``coordination.k8s.io/v1`` Leases, with client-go's semantics.

Every candidate runs :meth:`LeaderElector.run`.  The lease records who holds
it (``holderIdentity``), for how long (``leaseDurationSeconds``), since when
(``acquireTime``), when it was last renewed (``renewTime``) and how many
times it changed hands (``leaseTransitions``).

- Acquire: every ``retry_period`` (jittered up to 1.2x more, so candidates
  do not collide in step) try to take the lease.  It is free when it does not
  exist, has no holder, or has not changed for ``leaseDurationSeconds`` —
  measured on *our* monotonic clock from when *we* last saw it change, never
  by comparing the server's timestamps with our wall clock, so clock skew
  between hosts cannot steal a lease.  Writes use the lease's
  resourceVersion, so of two candidates racing for one lease one gets 409 and
  stays a follower.
- Lead: ``on_started_leading()`` runs as a task.  Every ``retry_period`` the
  leader renews; if it cannot renew for ``renew_deadline`` it steps down:
  the task is cancelled and ``run()`` returns.  ``lease_duration`` >
  ``renew_deadline`` leaves a margin so the old leader has stopped before any
  standby may take over.
- Release: when ``run()`` is cancelled while leading (and
  ``release_on_cancel``), the holder is cleared and the duration set to 1 s,
  so a standby acquires at its next try instead of waiting out the lease.
- ``on_stopped_leading()`` is called whenever ``run()`` ends (as upstream,
  even if this candidate never led); ``on_new_leader(identity)`` whenever the
  observed holder changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from kubeling.api.errors import StatusError
from kubeling.client.clock import Clock, RealClock
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2
LEASES = StaticResource("coordination.k8s.io", "v1", "leases", namespaced=True)


class LeaseClient(Protocol):
    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None if it does not exist."""
        ...

    async def create_lease(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create; raises StatusError 409 if it already exists."""
        ...

    async def update_lease(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace (PUT) with resourceVersion; raises StatusError 409 on conflict, 404 if missing."""
        ...


def micro_time(moment: datetime) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: LeaseClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], Awaitable[None]] | None = None,
        on_stopped_leading: Callable[[], Any] | None = None,
        on_new_leader: Callable[[str], Any] | None = None,
        release_on_cancel: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period*{JITTER_FACTOR}")
        if retry_period <= 0 or not identity:
            raise ValueError("retry_period must be positive and identity non-empty")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.release_on_cancel = release_on_cancel
        self._clock: Clock = clock or RealClock()
        self._observed: dict[str, Any] | None = None  # the whole Lease as last seen
        self._observed_spec: dict[str, Any] = {}
        self._observed_at = 0.0  # our monotonic time when the spec last changed
        self._reported_leader = ""

    # -- public ------------------------------------------------------------

    def is_leader(self) -> bool:
        return bool(self._observed_spec) and self._observed_spec.get("holderIdentity") == self.identity

    def get_leader(self) -> str:
        return str(self._observed_spec.get("holderIdentity") or "")

    def check(self, tolerance: float = 20.0) -> str | None:
        """Health: an error if we lead but have not renewed for lease_duration + tolerance (a hung leader)."""
        if not self.is_leader():
            return None
        stale = self._clock.now() - self._observed_at
        if stale > self.lease_duration + tolerance:
            return (
                f"failed election to renew leadership on lease {self.name} ({stale:.0f}s since last renewal)"
            )
        return None

    async def run(self) -> None:
        """Campaign, lead until the lease is lost, then return. Cancel to stop (and release)."""
        leading: asyncio.Task[None] | None = None
        try:
            await self._acquire()
            if self.on_started_leading is not None:
                leading = asyncio.ensure_future(self.on_started_leading())
            await self._renew(leading)
        finally:
            if leading is not None and not leading.done():
                leading.cancel()
                with contextlib.suppress(BaseException):
                    await leading
            if self.release_on_cancel and self.is_leader():
                await self._release_quietly()
            if self.on_stopped_leading is not None:
                result = self.on_stopped_leading()
                if inspect.isawaitable(result):
                    await result

    # -- loops -------------------------------------------------------------

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                log.info("successfully acquired lease %s/%s as %s", self.namespace, self.name, self.identity)
                return
            await self._clock.sleep(self.retry_period * (1 + random.random() * JITTER_FACTOR))

    async def _renew(self, leading: asyncio.Task[None] | None) -> None:
        while True:
            deadline = self._clock.now() + self.renew_deadline
            renewed = False
            while not renewed:
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    break
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                    # cancellation that lands as the call finishes, and the elector would
                    # then never stop.
                    async with asyncio.timeout(remaining):
                        renewed = await self._try_acquire_or_renew()
                except TimeoutError:
                    break
                if not renewed:
                    await self._clock.sleep(min(self.retry_period, max(deadline - self._clock.now(), 0)))
            if not renewed:
                log.warning("failed to renew lease %s/%s: stepping down", self.namespace, self.name)
                return
            if leading is not None and leading.done():
                # The leader's work ended: stop leading.  A crash propagates out of run() (never swallowed).
                leading.result()
                return
            await self._clock.sleep(self.retry_period)

    # -- one attempt -------------------------------------------------------

    async def _try_acquire_or_renew(self) -> bool:
        now = datetime.now(UTC)
        desired = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": 0,
        }
        try:
            current = await self.client.get_lease(self.namespace, self.name)
        except Exception as exc:  # any read failure is just a failed attempt
            log.debug("error retrieving lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        if current is None:
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": desired,
            }
            try:
                created = await self.client.create_lease(self.namespace, lease)
            except Exception as exc:
                log.debug("error creating lease %s/%s: %s", self.namespace, self.name, exc)
                return False
            self._observe(created)
            return True

        spec = current.get("spec") or {}
        self._observe(current)
        holder = spec.get("holderIdentity") or ""
        still_valid = self._observed_at + float(spec.get("leaseDurationSeconds") or 0) > self._clock.now()
        if holder and holder != self.identity and still_valid:
            return False
        if holder == self.identity:
            desired["acquireTime"] = spec.get("acquireTime") or desired["acquireTime"]
            desired["leaseTransitions"] = int(spec.get("leaseTransitions") or 0)
        else:
            desired["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        updated = copy.deepcopy(current)
        updated["spec"] = {**spec, **desired}
        try:
            result = await self.client.update_lease(self.namespace, updated)
        except Exception as exc:
            log.debug("error updating lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        self._observe(result)
        return True

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = dict(lease.get("spec") or {})
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = self._clock.now()
        self._observed = lease
        leader = self.get_leader()
        if leader != self._reported_leader:
            self._reported_leader = leader
            if self.on_new_leader is not None and leader:
                self.on_new_leader(leader)

    async def _release_quietly(self) -> None:
        assert self._observed is not None
        now = micro_time(datetime.now(UTC))
        released = copy.deepcopy(self._observed)
        released["spec"] = {
            **self._observed_spec,
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
        }
        try:
            async with asyncio.timeout(self.renew_deadline):
                result = await self.client.update_lease(self.namespace, released)
        except Exception as exc:
            log.warning("failed to release lease %s/%s: %s", self.namespace, self.name, exc)
            return
        self._observe(result)


class RESTLeaseClient:
    """LeaseClient over a :class:`~kubeling.client.rest.RESTClient`."""

    def __init__(self, client: RESTClient) -> None:
        self.client = client

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(LEASES, name=name, namespace=namespace)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def create_lease(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.client.create(LEASES, obj, namespace=namespace)

    async def update_lease(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.client.update(LEASES, obj, namespace=namespace)
