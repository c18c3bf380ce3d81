"""The shape every controller has: informer handlers enqueue keys, workers reconcile them.

A controller subclasses :class:`Controller`, names itself (``name`` is its
``--controllers`` name, ``service_account`` the kube-system ServiceAccount
whose ``system:controller:*`` role it acts with), asks
``self.informer(RESOURCE)`` for the caches it reads and registers handlers
that call :meth:`Controller.enqueue`.  Its :meth:`Controller.reconcile`
gets one key (``namespace/name``) at a time and makes the world match; it
may return a number of seconds after which to look at the key again.

The workers give a key to one worker at a time (the queue de-duplicates
and never hands out a key that is being worked on).  A reconcile that
raises is retried with per-key exponential backoff (5 ms doubling to 1000 s,
capped overall by a 10 qps bucket, as upstream's default controller rate
limiter); a 409 Conflict is expected under concurrency and only logged at
debug level.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kubeling.api.errors import StatusError
from kubeling.client.clock import Clock, RealClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer
from kubeling.client.paths import ResourceLike
from kubeling.client.rest import RESTClient
from kubeling.client.store import IndexFunc, Obj, key_of
from kubeling.client.workqueue import WorkQueue
from kubeling.controllers.informers import InformerFactory

log = logging.getLogger(__name__)


@dataclass
class ControllerOptions:
    """Settings of controller-manager that individual controllers read (upstream's flag names in comments)."""

    cluster_cidr: str = "10.244.0.0/16"  # --cluster-cidr
    allocate_node_cidrs: bool = True  # --allocate-node-cidrs
    node_cidr_mask_size: int = 24  # --node-cidr-mask-size
    service_cluster_ip_range: str = "10.96.0.0/12"  # --service-cluster-ip-range
    node_monitor_period: float = 5.0  # --node-monitor-period
    node_monitor_grace_period: float = 40.0  # --node-monitor-grace-period
    default_not_ready_toleration_seconds: int = 300  # --default-not-ready-toleration-seconds (apiserver)
    default_unreachable_toleration_seconds: int = 300  # --default-unreachable-toleration-seconds
    node_eviction_rate: float = 0.1  # --node-eviction-rate: nodes per second per healthy zone
    secondary_node_eviction_rate: float = 0.01  # --secondary-node-eviction-rate: in unhealthy zones
    large_cluster_size_threshold: int = 50  # --large-cluster-size-threshold: smaller zones stop evicting
    unhealthy_zone_threshold: float = 0.55  # --unhealthy-zone-threshold: share of not-ready nodes
    node_cidr_mask_size_ipv6: int = 64  # --node-cidr-mask-size-ipv6
    max_endpoints_per_slice: int = 100  # --max-endpoints-per-slice
    resource_quota_sync_period: float = 300.0  # --resource-quota-sync-period
    terminated_pod_gc_threshold: int = 12500  # --terminated-pod-gc-threshold
    root_ca_file: str = ""  # --root-ca-file: published as kube-root-ca.crt
    service_account_private_key_file: str = ""  # --service-account-private-key-file
    cluster_signing_cert_file: str = ""  # --cluster-signing-cert-file: the CA csrsigning signs with
    cluster_signing_key_file: str = ""  # --cluster-signing-key-file
    cluster_signing_duration: float = 365 * 24 * 3600.0  # --cluster-signing-duration (8760h), seconds
    concurrent_syncs: dict[str, int] = field(default_factory=dict)  # --concurrent-<name>-syncs
    # Test-only hooks with no upstream flag: injected clocks, shorter periods and bursts.
    extra: dict[str, Any] = field(default_factory=dict)


class ClientSource:
    """Gives each controller its API client; the default shares one client."""

    def __init__(self, client: RESTClient) -> None:
        self.root = client

    def client_for(self, service_account: str) -> RESTClient:
        return self.root

    async def close(self) -> None:
        await self.root.close()


@dataclass
class ControllerContext:
    informers: InformerFactory
    clients: ClientSource
    options: ControllerOptions = field(default_factory=ControllerOptions)
    clock: Clock = field(default_factory=RealClock)
    recorder_factory: Callable[[RESTClient, str], EventRecorder] | None = None
    _recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def client_for(self, service_account: str) -> RESTClient:
        return self.clients.client_for(service_account)

    def recorder_for(self, service_account: str, component: str) -> EventRecorder:
        recorder = self._recorders.get(component)
        if recorder is None:
            from kubeling.client.events import RESTEventSink

            client = self.client_for(service_account)
            if self.recorder_factory is not None:
                recorder = self.recorder_factory(client, component)
            else:
                recorder = EventRecorder(RESTEventSink(client), component)
            self._recorders[component] = recorder
        return recorder

    async def close(self) -> None:
        for recorder in self._recorders.values():
            await recorder.close()
        self._recorders.clear()


class Controller(abc.ABC):
    name: ClassVar[str] = ""  # the --controllers name, e.g. "replicaset"
    service_account: ClassVar[str] = ""  # e.g. "replicaset-controller"
    component: ClassVar[str] = ""  # Event source; defaults to the service account name
    workers: ClassVar[int] = 5
    max_retries: ClassVar[int] = 15  # upstream drops a key after ~15 failed syncs

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.options = ctx.options
        self.clock = ctx.clock
        self.client = ctx.client_for(self.service_account)
        self.recorder = ctx.recorder_for(self.service_account, self.component or self.service_account)
        self.queue: WorkQueue[str] = WorkQueue(name=self.name, clock=ctx.clock)

    # -- building ----------------------------------------------------------------

    def informer(self, resource: ResourceLike, *, indexers: dict[str, IndexFunc] | None = None) -> Informer:
        return self.ctx.informers.informer(resource, indexers=indexers)

    def watch(self, resource: ResourceLike, enqueue: Callable[[Obj], None] | None = None) -> Informer:
        """The shared informer of ``resource``, with add/update/delete all calling ``enqueue``."""
        informer = self.informer(resource)
        handler = enqueue or self.enqueue
        informer.add_event_handler(
            on_add=handler, on_update=lambda _old, new: handler(new), on_delete=handler
        )
        return informer

    # -- queueing ----------------------------------------------------------------

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def enqueue_after(self, obj: Obj, seconds: float) -> None:
        self.queue.add_after(key_of(obj), seconds)

    # -- work --------------------------------------------------------------------

    @abc.abstractmethod
    async def reconcile(self, key: str) -> float | None:
        """Make the object at ``key`` as it should be; return seconds to look again, or None."""

    async def run(self) -> None:
        """Wait for the caches, then work the queue until cancelled."""
        await self.ctx.informers.wait_synced()
        log.info("starting %s controller (%d workers)", self.name, self.workers)
        workers = [asyncio.create_task(self._worker(), name=f"{self.name}-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.shut_down()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                again = await self.reconcile(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except Exception as exc:
                self._handle_error(key, exc)
            else:
                self.queue.forget(key)
                if again is not None:
                    self.queue.add_after(key, again)
            finally:
                self.queue.done(key)

    def _handle_error(self, key: str, exc: Exception) -> None:
        retries = self.queue.num_requeues(key)
        if retries >= self.max_retries:
            log.warning("%s: dropping %s out of the queue after %d retries: %s", self.name, key, retries, exc)
            self.queue.forget(key)
            return
        if isinstance(exc, StatusError) and exc.code in (409, 404):
            log.debug("%s: sync %s: %s (retrying)", self.name, key, exc)
        elif isinstance(exc, StatusError):
            log.info("%s: sync %s failed: %s (retrying)", self.name, key, exc)
        else:
            log.warning("%s: sync %s failed (retrying)", self.name, key, exc_info=exc)
        self.queue.add_rate_limited(key)


def split_key(key: str) -> tuple[str, str]:
    """``namespace/name`` → (namespace, name); a cluster-scoped ``name`` → ("", name)."""
    namespace, _, name = key.rpartition("/")
    return namespace, name
