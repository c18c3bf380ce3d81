"""The scheduler process's core: informers feed the queue and cache; one loop decides; binds run alongside.

What runs where (one event loop):

- informer tasks (nodes, pods, namespaces, PodDisruptionBudgets, the
  Services and workloads whose selectors drive default spreading and, when
  readable, PriorityClasses) call handlers that only update the cache and
  the queue: pending pods go into the queue, bound pods into the cache (which
  confirms assumed ones), and cluster changes move parked pods back;
- the scheduling loop pops one pod at a time and decides synchronously (no
  await between reading the cache and assuming the pod, so no cycle ever
  sees a half-applied change), then yields;
- each decision's binding (POST ``pods/<name>/binding``) runs as its own
  task, concurrently with the next decisions; a failed binding forgets the
  assumed pod and requeues it with backoff;
- failures write the ``PodScheduled=False`` condition and a FailedScheduling
  event in background tasks too, and may preempt (delete victims, nominate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import LabelSelector, Requirement
from kubeling.client.events import NORMAL, WARNING, EventRecorder, RESTEventSink
from kubeling.client.informer import Informer
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.client.store import BY_NAMESPACE
from kubeling.scheduler import queue as q
from kubeling.scheduler.algorithm import Algorithm, FitError
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.framework import NodeInfo, PodInfo, selector_of
from kubeling.scheduler.plugins import default_plugins
from kubeling.scheduler.preemption import Budget, Candidate, find_candidate

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PODS = StaticResource("", "v1", "pods")
NODES = StaticResource("", "v1", "nodes", namespaced=False)
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)
PDBS = StaticResource("policy", "v1", "poddisruptionbudgets")
PRIORITY_CLASSES = StaticResource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)
SERVICES = StaticResource("", "v1", "services")
REPLICATION_CONTROLLERS = StaticResource("", "v1", "replicationcontrollers")
REPLICA_SETS = StaticResource("apps", "v1", "replicasets")
STATEFUL_SETS = StaticResource("apps", "v1", "statefulsets")
DEFAULT_SCHEDULER_NAME = "default-scheduler"


@dataclass
class Stats:
    """What the scheduler measures about itself (read by the benchmark and tests)."""

    decisions: int = 0
    failures: int = 0
    bound: int = 0
    bind_errors: int = 0
    cycle_seconds: float = 0.0  # wall time inside synchronous scheduling cycles
    cycle_cpu_seconds: float = 0.0  # CPU time of this process inside them (immune to other processes)
    first_decision: float = 0.0
    last_decision: float = 0.0
    # queue add -> bound, seconds; the most recent ones only, so a long-running daemon stays small.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace') or 'default'}/{meta['name']}"


def _gated(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class Scheduler:
    def __init__(
        self,
        client: RESTClient,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        percentage_of_nodes_to_score: int = 0,
        recorder: EventRecorder | None = None,
        max_concurrent_binds: int = 64,
    ) -> None:
        self.client = client
        # Bindings run beside scheduling but share one connection pool: cap how many are in flight.
        self._bind_slots = asyncio.Semaphore(max_concurrent_binds)
        self.scheduler_name = scheduler_name
        self.nodes = Informer(client, NODES)
        self.pods = Informer(client, PODS, field_selector="status.phase!=Succeeded,status.phase!=Failed")
        self.namespaces = Informer(client, NAMESPACES)
        self.pdbs = Informer(client, PDBS)
        self.priority_classes = Informer(client, PRIORITY_CLASSES)
        self._read_priority_classes = True
        # Selectors of these make PodTopologySpread's system-default constraints.
        self.selecting = [
            Informer(client, resource)
            for resource in (SERVICES, REPLICATION_CONTROLLERS, REPLICA_SETS, STATEFUL_SETS)
        ]
        self.cache = Cache(namespace_labels=self._namespace_labels, priority_of=self.priority_of)
        self.queue = q.SchedulingQueue(priority_of=self.priority_of)
        filters, scores = default_plugins(self.cache, self.default_selector)
        self.algorithm = Algorithm(filters, scores, percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        self.recorder = recorder or EventRecorder(RESTEventSink(client), DEFAULT_SCHEDULER_NAME)
        self.stats = Stats()
        self._background: set[asyncio.Task[Any]] = set()
        self._informer_tasks: list[asyncio.Task[None]] = []
        self._wire()

    # -- lookups -----------------------------------------------------------------

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.namespaces.store.get(namespace)
        return ((ns or {}).get("metadata") or {}).get("labels") or {}

    def priority_of(self, pod: Obj) -> int:
        """``spec.priority`` (from Priority admission), else the named PriorityClass, else the default."""
        spec = pod.get("spec") or {}
        if spec.get("priority") is not None:
            return int(spec["priority"])
        name = spec.get("priorityClassName")
        if name:
            found = self.priority_classes.store.get(name)
            if found is not None:
                return int(found.get("value") or 0)
            return 0
        for pc in self.priority_classes.store.list():
            if pc.get("globalDefault"):
                return int(pc.get("value") or 0)
        return 0

    def default_selector(self, pod: PodInfo) -> LabelSelector | None:
        """Upstream's DefaultSelector: selectors of the Services, RCs, RSs, StatefulSets selecting the pod."""
        requirements: list[Requirement] = []
        services, controllers, replica_sets, stateful_sets = (i.store for i in self.selecting)
        for store in (services, controllers):
            for obj in store.by_index(BY_NAMESPACE, pod.namespace):
                plain = (obj.get("spec") or {}).get("selector") or {}
                if plain and all(pod.labels.get(k) == v for k, v in plain.items()):
                    requirements += selector_of({"matchLabels": plain}).requirements
        for store in (replica_sets, stateful_sets):
            for obj in store.by_index(BY_NAMESPACE, pod.namespace):
                raw = (obj.get("spec") or {}).get("selector")
                if not raw:
                    continue
                selector = selector_of(raw)
                if not selector.empty and selector.matches(pod.labels):
                    requirements += selector.requirements
        if not requirements:
            return None
        return LabelSelector(
            tuple(sorted(set(requirements), key=lambda r: (r.key, r.operator.value, r.values)))
        )

    def preemption_policy_of(self, pod: Obj) -> str:
        """``spec.preemptionPolicy`` (from Priority admission), else the named PriorityClass's."""
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy"):
            return str(spec["preemptionPolicy"])
        found = self.priority_classes.store.get(spec.get("priorityClassName") or "")
        return str((found or {}).get("preemptionPolicy") or "PreemptLowerPriority")

    def responsible_for(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME) == self.scheduler_name

    # -- event handlers ----------------------------------------------------------

    def _wire(self) -> None:
        self.pods.add_event_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )
        self.nodes.add_event_handler(
            on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_deleted
        )
        self.namespaces.add_event_handler(
            on_add=lambda _ns: self.queue.move_on_event(q.NAMESPACE_CHANGE),
            on_update=self._namespace_updated,
        )

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            if not _terminal(pod):
                self.cache.add_pod(pod)
                self.queue.move_on_event(q.ASSIGNED_POD_ADD)
            return
        if self.responsible_for(pod) and not pod["metadata"].get("deletionTimestamp") and not _gated(pod):
            self._track_nomination(pod)
            self.queue.add(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = _key(new)
        if (new.get("spec") or {}).get("nodeName"):
            if not (old.get("spec") or {}).get("nodeName"):
                self.queue.delete(key)  # bound (by us or by someone else)
                self._drop_nomination(key)
            if _terminal(new):
                self.cache.remove_pod(key)
                self.queue.move_on_event(q.ASSIGNED_POD_DELETE)
                return
            relevant = old.get("spec") != new.get("spec") or old["metadata"].get("labels") != new[
                "metadata"
            ].get("labels")
            if relevant or self.cache.pod_node(key) is None or self.cache.is_assumed(key):
                self.cache.update_pod(new)
                if relevant:
                    self.queue.move_on_event(q.ASSIGNED_POD_UPDATE)
            return
        if not self.responsible_for(new):
            return
        if new["metadata"].get("deletionTimestamp") or _gated(new):
            # Deleted, or held back by schedulingGates until they are all removed.
            self.queue.delete(key)
            self._drop_nomination(key)
            return
        self._track_nomination(new)
        self.queue.update(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = _key(pod)
        self._drop_nomination(key)
        if (pod.get("spec") or {}).get("nodeName") or self.cache.pod_node(key):
            self.cache.remove_pod(key)
            self.queue.move_on_event(q.ASSIGNED_POD_DELETE)
        self.queue.delete(key)

    def _node_added(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_on_event(q.NODE_ADD)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if _node_changed(old, new):
            self.queue.move_on_event(q.NODE_UPDATE)

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def _namespace_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("labels") != new["metadata"].get("labels"):
            self.queue.move_on_event(q.NAMESPACE_CHANGE)

    def _track_nomination(self, pod: Obj) -> None:
        node = (pod.get("status") or {}).get("nominatedNodeName")
        key = _key(pod)
        self._drop_nomination(key)
        if node:
            self.algorithm.nominated.setdefault(node, {})[key] = PodInfo(pod, self.priority_of(pod))

    def _drop_nomination(self, key: str) -> None:
        for node, pods in list(self.algorithm.nominated.items()):
            if pods.pop(key, None) is not None and not pods:
                del self.algorithm.nominated[node]

    # -- lifecycle ---------------------------------------------------------------

    async def start_informers(self, timeout: float | None = None) -> None:
        """Start every informer and wait for their first lists (PriorityClasses only if readable)."""
        try:
            await self.client.list(PRIORITY_CLASSES, limit=1)
        except StatusError as exc:
            if exc.code not in (401, 403, 404):
                raise
            # The scheduler's bootstrap role cannot read PriorityClasses; spec.priority is enough.
            log.info("not watching PriorityClasses (%s); using spec.priority only", exc.reason)
            self._read_priority_classes = False
        informers = [self.priority_classes] if self._read_priority_classes else []
        informers += [self.namespaces, self.pdbs, *self.selecting, self.nodes, self.pods]
        for informer in informers:
            self._informer_tasks.append(
                asyncio.create_task(informer.run(), name=f"scheduler-informer-{informer.resource.plural}")
            )
            # Pods last, after nodes: pods bound to known nodes land in ready NodeInfos.
            if not await informer.wait_synced(timeout):
                raise TimeoutError(f"{informer.resource.plural} informer did not sync")

    async def run(self) -> None:
        """Schedule until cancelled (informers must be started)."""
        loops = [
            asyncio.create_task(self._flush_loop(1.0, self.queue.flush_backoff), name="scheduler-backoff"),
            asyncio.create_task(
                self._flush_loop(30.0, self.queue.flush_unschedulable), name="scheduler-unschedulable"
            ),
            asyncio.create_task(self._schedule_loop(), name="scheduler-loop"),
            *self._informer_tasks,
        ]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def stop(self) -> None:
        self.queue.close()
        for informer in (
            self.nodes,
            self.pods,
            self.namespaces,
            self.pdbs,
            self.priority_classes,
            *self.selecting,
        ):
            informer.stop()
        for task in [*self._informer_tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._informer_tasks, *self._background, return_exceptions=True)
        self._informer_tasks = []
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.recorder.close()

    async def _flush_loop(self, period: float, flush: Any) -> None:
        while True:
            await asyncio.sleep(period)
            flush()

    async def _schedule_loop(self) -> None:
        while (info := await self.queue.pop()) is not None:
            cycle = self.queue.scheduling_cycle
            try:
                self.schedule_one(info, cycle)
            except Exception:
                log.exception("scheduling %s failed", info.key)
                self.queue.add_unschedulable(info, cycle, error=True)
            await asyncio.sleep(0)  # let informers and bindings run between decisions

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- one pod -----------------------------------------------------------------

    def schedule_one(self, info: q.QueuedPodInfo, cycle: int) -> None:
        pod = info.pod
        if pod["metadata"].get("deletionTimestamp") or (pod.get("spec") or {}).get("nodeName"):
            self.queue.done(info.key)
            return
        started, started_cpu = time.perf_counter(), time.process_time()
        pod_info = PodInfo(pod, info.priority, self.preemption_policy_of(pod))
        nominated = (pod.get("status") or {}).get("nominatedNodeName") or ""
        try:
            result = self.algorithm.schedule(pod_info, self.cache.node_infos(), nominated)
        except FitError as error:
            self._failed(info, pod_info, error, cycle)
            self.stats.cycle_seconds += time.perf_counter() - started
            self.stats.cycle_cpu_seconds += time.process_time() - started_cpu
            return
        self.cache.assume_pod(pod_info, result.node)
        self._drop_nomination(info.key)
        finished = time.perf_counter()
        stats = self.stats
        stats.cycle_seconds += finished - started
        stats.cycle_cpu_seconds += time.process_time() - started_cpu
        stats.decisions += 1
        stats.first_decision = stats.first_decision or finished
        stats.last_decision = finished
        self._spawn(self._bind(info, pod_info, result.node))

    async def _bind(self, info: q.QueuedPodInfo, pod_info: PodInfo, node: str) -> None:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod_info.name, "namespace": pod_info.namespace, "uid": pod_info.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            async with self._bind_slots:
                await self.client.create(
                    PODS, binding, namespace=pod_info.namespace, name=pod_info.name, subresource="binding"
                )
        except Exception as exc:
            self.stats.bind_errors += 1
            log.info("binding %s to %s failed: %s", info.key, node, exc)
            self.cache.forget_pod(info.key)
            self.queue.move_on_event(q.ASSIGNED_POD_DELETE)
            if info.key in self.queue:
                self.recorder.event(pod_info.pod, WARNING, "FailedScheduling", f"Binding rejected: {exc}")
                self.queue.add_unschedulable(info, self.queue.scheduling_cycle, error=True)
            return
        self.queue.done(info.key)
        self.stats.bound += 1
        self.stats.latencies.append(time.monotonic() - info.initial_attempt)
        self.recorder.event(pod_info.pod, NORMAL, "Scheduled", f"Successfully assigned {info.key} to {node}")

    def _failed(self, info: q.QueuedPodInfo, pod_info: PodInfo, error: FitError, cycle: int) -> None:
        self.stats.failures += 1
        nominate = ""
        if not error.pre_filter_message and error.num_all_nodes:
            budgets = [Budget.from_object(p) for p in self.pdbs.store.list()]
            candidate, message = find_candidate(self.algorithm, error, self.cache.node_infos(), budgets)
            if candidate is not None:
                nominate = candidate.node
                nominees = self.algorithm.nominated.setdefault(nominate, {})
                # Lower-priority pods nominated there lose the room the preemptor is taking.
                displaced = [p for p in nominees.values() if p.priority < pod_info.priority]
                for other in displaced:
                    del nominees[other.key]
                nominees[info.key] = pod_info
                self._spawn(self._preempt(pod_info, candidate, displaced))
            else:
                error.post_filter_message = f"preemption: {message}"
        message = error.message()
        info.unschedulable_plugins = error.unschedulable_plugins()
        self.queue.add_unschedulable(info, cycle)
        self.recorder.event(pod_info.pod, WARNING, "FailedScheduling", message)
        self._spawn(self._write_condition(pod_info.pod, message, nominate))

    async def _preempt(self, preemptor: PodInfo, candidate: Candidate, displaced: list[PodInfo]) -> None:
        for other in displaced:
            try:
                await self.client.patch(
                    PODS,
                    {"status": {"nominatedNodeName": None}},
                    name=other.name,
                    namespace=other.namespace,
                    subresource="status",
                    patch_type="merge",
                )
            except StatusError as exc:
                if exc.code != 404:
                    log.warning("preemption: clearing the nomination of %s failed: %s", other.key, exc)
        for victim in candidate.victims:
            try:
                await self.client.delete(
                    PODS, namespace=victim.namespace, name=victim.name, preconditions={"uid": victim.uid}
                )
            except StatusError as exc:
                if exc.code not in (404, 409):
                    log.warning("preemption: deleting %s failed: %s", victim.key, exc)
                    continue
            self.recorder.event(
                victim.pod,
                NORMAL,
                "Preempted",
                f"Preempted by pod {preemptor.uid} on node {candidate.node}",
            )

    async def _write_condition(self, pod: Obj, message: str, nominated: str) -> None:
        current = next(
            (c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"),
            {},
        )
        status_patch: Obj = {}
        if (current.get("status"), current.get("reason"), current.get("message")) != (
            "False",
            "Unschedulable",
            message,
        ):
            status_patch["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastProbeTime": None,
                    "lastTransitionTime": _now(),
                }
            ]
        if nominated and (pod.get("status") or {}).get("nominatedNodeName") != nominated:
            status_patch["nominatedNodeName"] = nominated
        if not status_patch:
            return
        meta = pod["metadata"]
        try:
            await self.client.patch(
                PODS,
                {"status": status_patch},
                name=meta["name"],
                namespace=meta.get("namespace"),
                subresource="status",
                patch_type="strategic",
            )
        except StatusError as exc:
            if exc.code != 404:
                log.warning("updating PodScheduled of %s failed: %s", _key(pod), exc)


def _node_changed(old: Obj, new: Obj) -> bool:
    """Only changes that can make a pod fit (not heartbeats) move parked pods."""
    if old["metadata"].get("labels") != new["metadata"].get("labels"):
        return True
    if (old.get("spec") or {}) != (new.get("spec") or {}):
        return True
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    return old_status.get("allocatable") != new_status.get("allocatable")


__all__ = ["NodeInfo", "Scheduler", "Stats"]
