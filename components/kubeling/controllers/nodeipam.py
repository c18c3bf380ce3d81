"""Node IPAM: every Node gets pod CIDRs out of ``--cluster-cidr`` (upstream's RangeAllocator).

With ``allocate_node_cidrs`` the controller keeps one :class:`CIDRSet` per
cluster CIDR (one for IPv4, one for IPv6 in a dual-stack cluster).  Before
the first allocation it marks the ranges of every cached Node that already
has ``spec.podCIDRs`` as used (hollow nodes and kubeadm-style nodes bring
their own), so nothing handed out can overlap one.  A Node without CIDRs
gets the next free subnet of each family, written once as ``spec.podCIDRs``
and ``spec.podCIDR`` (the apiserver refuses later changes).  A Node's
ranges return to the pool when the Node is gone.  When a range is full the
Node gets a ``CIDRNotAvailable`` event and is retried later.

Allocation and bookkeeping happen without an ``await`` in between, so the
asyncio workers never hand the same subnet to two nodes.
"""

from __future__ import annotations

import logging

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.cidrset import CIDRRangeFull, CIDRSet, CIDRSetError
from kubeling.controllers.resources import NODES

log = logging.getLogger(__name__)

RETRY_FULL_SECONDS = 10.0  # re-check a node that found its range full (extra "cidr_retry_seconds")


def node_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or [])
    if not cidrs and spec.get("podCIDR"):
        cidrs = [spec["podCIDR"]]
    return cidrs


def node_event_ref(node: Obj) -> Obj:
    """Node events name a cluster-scoped reference (they land in the default namespace)."""
    meta = node["metadata"]
    return {"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta.get("uid", "")}


class NodeIpamController(Controller):
    name = "node-ipam-controller"
    service_account = "node-controller"
    component = "node-controller"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.enabled = self.options.allocate_node_cidrs
        mask_v6 = self.options.node_cidr_mask_size_ipv6
        self.sets: list[CIDRSet] = []
        if self.enabled:
            for cidr in filter(None, (c.strip() for c in self.options.cluster_cidr.split(","))):
                mask = mask_v6 if ":" in cidr else self.options.node_cidr_mask_size
                self.sets.append(CIDRSet(cidr, mask))
        self.nodes = self.watch(NODES)
        self._held: dict[str, list[str]] = {}  # node name → CIDRs marked used for it
        self._primed = False
        self.retry_full = float(self.options.extra.get("cidr_retry_seconds", RETRY_FULL_SECONDS))

    # -- bookkeeping (no awaits: the bitmap and _held change together) ----------

    def _set_for(self, cidr: str) -> CIDRSet | None:
        family = 6 if ":" in cidr else 4
        return next((s for s in self.sets if s.family == family), None)

    def _occupy(self, name: str, cidrs: list[str]) -> None:
        for cidr in cidrs:
            cidr_set = self._set_for(cidr)
            if cidr_set is None:
                continue
            try:
                cidr_set.occupy(cidr)
            except CIDRSetError as exc:
                log.info("node %s: pod CIDR %s not tracked: %s", name, cidr, exc)
        self._held[name] = cidrs

    def _release(self, name: str) -> None:
        for cidr in self._held.pop(name, []):
            cidr_set = self._set_for(cidr)
            if cidr_set is None:
                continue
            try:
                cidr_set.release(cidr)
            except CIDRSetError:
                pass  # never occupied: outside our range

    def _prime(self) -> None:
        """Mark every cached node's ranges used before handing out any (upstream does so at start)."""
        for node in self.nodes.store.list():
            cidrs = node_cidrs(node)
            if cidrs:
                self._occupy(node["metadata"]["name"], cidrs)
        self._primed = True

    def _allocate(self) -> list[str]:
        taken: list[str] = []
        try:
            for cidr_set in self.sets:
                taken.append(cidr_set.allocate_next())
        except CIDRRangeFull:
            for cidr in taken:
                self._set_for(cidr).release(cidr)  # type: ignore[union-attr]
            raise
        return taken

    # -- reconcile -------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if not self.enabled or not self.sets:
            return None
        if not self._primed:
            self._prime()
        node = self.nodes.store.get(key)
        if node is None:
            self._release(key)
            return None
        current = node_cidrs(node)
        if current:
            if self._held.get(key) != current:
                self._release(key)  # a re-created namesake, or ranges we assigned but lost a race on
                self._occupy(key, current)
            return None
        cidrs = self._held.get(key)
        if cidrs is None:
            try:
                cidrs = self._allocate()
            except CIDRRangeFull:
                self.recorder.event(
                    node_event_ref(node),
                    "Normal",
                    "CIDRNotAvailable",
                    f"Node {key} status is now: CIDRNotAvailable",
                )
                return self.retry_full
            self._held[key] = cidrs
        patch = {
            "metadata": {"uid": node["metadata"]["uid"]},
            "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs},
        }
        try:
            await self.client.patch(NODES, patch, name=key, patch_type="strategic")
        except StatusError as exc:
            if exc.code in (404, 409, 422):
                self._release(key)  # gone, replaced, or given ranges by someone else meanwhile
                if exc.code == 404:
                    return None
            else:
                self.recorder.event(
                    node_event_ref(node),
                    "Normal",
                    "CIDRAssignmentFailed",
                    f"Node {key} status is now: CIDRAssignmentFailed",
                )
            raise
        log.info("node %s: assigned pod CIDRs %s", key, ",".join(cidrs))
        return None
