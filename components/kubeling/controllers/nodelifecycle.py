"""Node lifecycle: notice dead kubelets and taint their Nodes.

Three loops share the controller's state (all on one event loop, so plain dicts suffice):

- **The monitor** (every ``node_monitor_period``) looks at each cached Node.  A Node is alive while
  either its Lease in ``kube-node-lease`` (``spec.renewTime``) or its Ready condition (heartbeat or
  transition time) changes; "changes" is measured on this controller's own monotonic clock from when
  it last saw one, never by comparing the server's timestamps with local time.  Silent for longer
  than ``node_monitor_grace_period``, the Node's Ready, MemoryPressure, DiskPressure and PIDPressure
  conditions become Unknown (``NodeStatusUnknown``: "Kubelet stopped posting node status."), its
  ready pods are marked not ready, and it is queued for a NoExecute taint: ``unreachable`` for
  Ready=Unknown, ``not-ready`` for Ready=False.  A Node whose Ready turns True again loses both.
  Zones (region + zone labels) are sized up as upstream: when every zone is fully down the master
  is probably cut off, so no Node is tainted NoExecute and existing such taints are removed.
- **The NoExecute tainter** (every 0.1 s) takes queued Nodes per zone through a token bucket
  (``node_eviction_rate`` nodes/s, burst 1; ``secondary_node_eviction_rate`` for a partially
  disrupted zone larger than ``large_cluster_size_threshold``, else none).  Swapping one of our
  NoExecute taints for the other is immediate.
- **The workers** sync Node names: each writes the Node's taints, the NoSchedule set its
  conditions call for (TaintNodesByCondition: not-ready, unreachable, memory-, disk-,
  pid-pressure, network-unavailable, and unschedulable from ``spec.unschedulable``) plus the
  NoExecute taint the tainter granted.

Deleting the pods that do not tolerate a NoExecute taint is the taint-eviction-controller's job
(:mod:`kubeling.controllers.tainteviction`), separate since upstream 1.29.

Options (upstream's flags): ``--node-eviction-rate`` (0.1), ``--secondary-node-eviction-rate``
(0.01), ``--large-cluster-size-threshold`` (50), ``--unhealthy-zone-threshold`` (0.55).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from kubeling.api.errors import StatusError
from kubeling.client.flowcontrol import TokenBucket
from kubeling.client.store import Obj, key_of
from kubeling.controllers import nodetaints as nt
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.podutil import BY_NODE, now_rfc3339, pod_node_index
from kubeling.controllers.resources import LEASES, NODES, PODS

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
TAINTER_PERIOD = 0.1  # upstream's nodeEvictionPeriod
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class NodeHealth:
    probe: float  # our monotonic time of the last sign of life
    ready: tuple[str, str, str] | None  # (heartbeat, transition, status) of Ready as last seen
    renew: str | None  # the Lease's spec.renewTime as last seen
    retry_mark_pods: bool = False


@dataclass
class Zone:
    limiter: TokenBucket | None = None
    pending: dict[str, None] = field(default_factory=dict)  # ordered set of node names


def ready_signature(node: Obj) -> tuple[str, str, str] | None:
    cond = nt.node_condition(node, "Ready")
    if cond is None:
        return None
    return (
        str(cond.get("lastHeartbeatTime") or ""),
        str(cond.get("lastTransitionTime") or ""),
        str(cond.get("status") or ""),
    )


def mark_unknown(node: Obj, now: str) -> bool:
    """Set the kubelet-owned conditions of ``node`` (a copy) to Unknown; True if anything changed."""
    status = node.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    changed = False
    for kind in UNKNOWN_CONDITIONS:
        cond = nt.node_condition(node, kind)
        if cond is None:
            conditions.append(
                {
                    "type": kind,
                    "status": "Unknown",
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                    "lastTransitionTime": now,
                }
            )
            changed = True
        elif cond.get("status") != "Unknown":
            cond.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=now,
            )
            changed = True
    return changed


class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"
    service_account = "node-controller"
    component = "node-controller"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.eviction_rate = self.options.node_eviction_rate
        self.secondary_rate = self.options.secondary_node_eviction_rate
        self.large_cluster = self.options.large_cluster_size_threshold
        self.unhealthy_threshold = self.options.unhealthy_zone_threshold
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(
            on_add=self.enqueue,
            on_update=lambda _old, new: self.enqueue(new),
            on_delete=self._node_deleted,
        )
        self.pods = self.informer(PODS, indexers={BY_NODE: pod_node_index})  # MarkPodsNotReady
        self.leases = self.informer(LEASES)
        self.health: dict[str, NodeHealth] = {}
        self.zones: dict[str, Zone] = {}
        self.no_execute: dict[str, str] = {}  # node → NoExecute taint key granted by the tainter
        self.master_disruption = False
        self._monitored = asyncio.Event()  # taints are written only once the monitor has judged nodes

    # -- handlers ---------------------------------------------------------------

    def _node_deleted(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        self.health.pop(name, None)
        self.no_execute.pop(name, None)
        for zone in self.zones.values():
            zone.pending.pop(name, None)

    # -- loops ------------------------------------------------------------------

    async def run(self) -> None:
        await self.ctx.informers.wait_synced()
        tasks = [
            asyncio.create_task(super().run(), name=f"{self.name}-workers"),
            asyncio.create_task(self._every(self.options.node_monitor_period, self.monitor), name="monitor"),
            asyncio.create_task(self._every(TAINTER_PERIOD, self.taint_pass), name="tainter"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _every(self, period: float, step: Callable[[], object]) -> None:
        while True:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except (StatusError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info(
                    "%s: %s failed, again in %.1fs: %s",
                    self.name,
                    getattr(step, "__name__", step),
                    period,
                    exc,
                )
            await self.clock.sleep(period)

    # -- the monitor --------------------------------------------------------------

    async def monitor(self) -> None:
        now = self.clock.now()
        ready_by_zone: dict[str, list[int]] = {}
        for node in self.nodes.store.list():
            name = node["metadata"]["name"]
            node = await self._check_health(node, now)
            if node is None:
                continue
            status = nt.ready_status(node)
            counts = ready_by_zone.setdefault(nt.zone_of(node), [0, 0])
            counts[0 if status == "True" else 1] += 1
            self._judge(node, status)
            self.queue.add(name)
        self._size_up_zones(ready_by_zone)
        self._monitored.set()

    async def _check_health(self, node: Obj, now: float) -> Obj | None:
        """Refresh what we know of the node's heartbeats; past the grace period, mark it Unknown."""
        name = node["metadata"]["name"]
        lease = self.leases.store.get_by(name=name, namespace=NODE_LEASE_NAMESPACE)
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        ready = ready_signature(node)
        health = self.health.get(name)
        if health is None:
            health = self.health[name] = NodeHealth(probe=now, ready=ready, renew=renew)
        if ready != health.ready or (renew and renew != health.renew):
            health.probe, health.ready, health.renew = now, ready, renew
        if now - health.probe <= self.options.node_monitor_grace_period:
            return node
        was_ready = nt.ready_status(node) == "True"
        updated = copy.deepcopy(node)
        if mark_unknown(updated, now_rfc3339()):
            try:
                updated = await self.client.update(NODES, updated, name=name, subresource="status")
            except StatusError as exc:
                if exc.code == 404:
                    return None
                log.info("%s: marking node %s Unknown: %s", self.name, name, exc)
                return node  # a kubelet update raced us; judge it again next period
            health.ready = ready_signature(updated)
            log.info("node %s: kubelet stopped posting node status; Ready is Unknown", name)
            if was_ready:
                self._node_event(updated, "NodeNotReady")
                health.retry_mark_pods = True
        if health.retry_mark_pods and nt.ready_status(updated) != "True":
            health.retry_mark_pods = not await self._mark_pods_not_ready(name)
        return updated

    def _judge(self, node: Obj, status: str | None) -> None:
        """Decide the node's NoExecute taint: swap or drop at once, add through the zone's limiter."""
        name = node["metadata"]["name"]
        want = nt.no_execute_key_for(status)
        zone = self.zones.setdefault(nt.zone_of(node), Zone())
        if want is None:
            zone.pending.pop(name, None)
            if status == "True":
                self.no_execute.pop(name, None)
            else:
                self._keep_existing(node)  # never reported: leave what is there
            return
        if name in self.no_execute or nt.current_no_execute_key(node):
            self.no_execute[name] = want  # already tainted: swapping is not rate limited
            return
        zone.pending.setdefault(name, None)

    def _keep_existing(self, node: Obj) -> None:
        current = nt.current_no_execute_key(node)
        if current:
            self.no_execute.setdefault(node["metadata"]["name"], current)

    def _size_up_zones(self, ready_by_zone: dict[str, list[int]]) -> None:
        states = {z: nt.zone_state(r, n, self.unhealthy_threshold) for z, (r, n) in ready_by_zone.items()}
        all_down = bool(states) and all(s is nt.ZoneState.FULL_DISRUPTION for s in states.values())
        if all_down and not self.master_disruption:
            log.warning("all nodes are not ready: entering master disruption mode, no NoExecute taints")
        elif not all_down and self.master_disruption:
            log.warning("some nodes are ready again: leaving master disruption mode")
        self.master_disruption = all_down
        for name, state in states.items():
            zone = self.zones.setdefault(name, Zone())
            size = sum(ready_by_zone[name])
            rate = 0.0 if all_down else self._rate(state, size)
            if zone.limiter is None or zone.limiter.qps != rate:
                zone.limiter = TokenBucket(qps=rate, burst=1, clock=self.clock.now) if rate > 0 else None
        if all_down:
            for zone in self.zones.values():
                zone.pending.clear()
            for name in list(self.no_execute):
                self.no_execute.pop(name)
                self.queue.add(name)

    def _rate(self, state: nt.ZoneState, size: int) -> float:
        return nt.zone_eviction_rate(
            state,
            size,
            rate=self.eviction_rate,
            secondary_rate=self.secondary_rate,
            large_cluster_threshold=self.large_cluster,
        )

    async def _mark_pods_not_ready(self, node_name: str) -> bool:
        """Upstream's MarkPodsNotReady: Ready=False on the node's pods; True when all went through."""
        ok = True
        for pod in self.pods.store.by_index(BY_NODE, node_name):
            cond = next(
                (c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None
            )
            if cond is None or cond.get("status") == "False":
                continue
            meta = pod["metadata"]
            patch = {
                "metadata": {"uid": meta["uid"]},
                "status": {
                    "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now_rfc3339()}]
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
                    ok = False
                    log.info("%s: marking pod %s not ready: %s", self.name, key_of(pod), exc)
                continue
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
        return ok

    def _node_event(self, node: Obj, status: str) -> None:
        meta = node["metadata"]
        ref = {"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta.get("uid", "")}
        self.recorder.event(ref, "Normal", status, f"Node {meta['name']} status is now: {status}")

    # -- the NoExecute tainter ----------------------------------------------------

    def taint_pass(self) -> None:
        if self.master_disruption:
            return
        for zone in self.zones.values():
            while zone.pending and zone.limiter is not None:
                name = next(iter(zone.pending))
                node = self.nodes.store.get(name)
                want = nt.no_execute_key_for(nt.ready_status(node)) if node else None
                if want is None:
                    del zone.pending[name]  # recovered or gone meanwhile: nothing to take a token for
                    continue
                if not zone.limiter.try_acquire():
                    break
                del zone.pending[name]
                self.no_execute[name] = want
                self.queue.add(name)

    # -- workers ------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if not self._monitored.is_set():
            return 1.0  # the monitor's first pass decides the NoExecute taints
        return await self._sync_node_taints(key)

    async def _sync_node_taints(self, name: str) -> None:
        node = self.nodes.store.get(name)
        if node is None:
            return
        taints = nt.desired_taints(node, nt.no_schedule_keys(node), self.no_execute.get(name), now_rfc3339())
        if not nt.same_taints(taints, (node.get("spec") or {}).get("taints") or []):
            updated = copy.deepcopy(node)
            updated.setdefault("spec", {})["taints"] = taints
            if not taints:
                del updated["spec"]["taints"]
            await self.client.update(NODES, updated, name=name)  # stale resourceVersion: 409, retried
            log.info("node %s: taints now %s", name, [f"{t['key']}:{t['effect']}" for t in taints])
