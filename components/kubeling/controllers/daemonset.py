"""DaemonSets: one pod on every node that should run it.

A node should run the daemon pod when the template's ``nodeName`` (if any),
``nodeSelector`` and required node affinity match it and its NoSchedule and
NoExecute taints are tolerated; a pod already there may stay while only
NoSchedule taints are untolerated.  Daemon pods get upstream's automatic
tolerations (not-ready and unreachable for NoExecute; disk, memory and pid
pressure and unschedulable for NoSchedule; network-unavailable for
``hostNetwork`` pods) and, as upstream since 1.12, are not bound by the
controller: each carries a required node affinity ``matchFields
metadata.name In [<node>]`` and the default scheduler places it.

A sync (upstream's ``syncDaemonSet``):

1. records the template as a ControllerRevision ``<ds>-<hash>`` (the hash is
   the template hash, also the pods' ``controller-revision-hash`` label);
2. when the expectations of earlier creates and deletes are met, creates the
   missing pods (slow-start batches) and deletes pods on nodes that should
   not run them, failed or finished pods, and duplicates (the oldest stays);
3. ``RollingUpdate`` replaces old pods: without surge it deletes old pods
   while at most ``maxUnavailable`` are unavailable; with ``maxSurge`` it
   first starts the new pod beside the old one and deletes the old pod once
   the new one is available.  ``OnDelete`` waits for the user;
4. prunes old revisions no pod uses beyond ``revisionHistoryLimit`` and
   writes the status ``kubectl rollout status`` reads.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.scheduling import first_untolerated, required_node_affinity_matches
from kubeling.api.selectors import label_selector_from_dict
from kubeling.client.store import BY_NAMESPACE, Obj, key_of
from kubeling.controllers import history
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.expectations import Expectations
from kubeling.controllers.ownership import claim, controller_ref, labels_of
from kubeling.controllers.podutil import is_available, is_ready, parse_time, pod_from_template
from kubeling.controllers.replicaset import slow_start_batch
from kubeling.controllers.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS

log = logging.getLogger(__name__)

KIND = "DaemonSet"
API_VERSION = "apps/v1"
BURST_REPLICAS = 250  # upstream's DaemonSet BurstReplicas
HASH_LABEL = history.CONTROLLER_REVISION_HASH_LABEL
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

_AUTOMATIC_TOLERATIONS = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
]
_NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


# -- pure helpers -------------------------------------------------------------------------


def _add_toleration(tolerations: list[Obj], key: str, effect: str) -> None:
    wanted = {"key": key, "operator": "Exists", "effect": effect}
    for i, existing in enumerate(tolerations):
        if (existing.get("key"), existing.get("operator") or "Equal", existing.get("effect")) == (
            key,
            "Exists",
            effect,
        ) and not existing.get("value"):
            tolerations[i] = wanted  # the same toleration: ours (without tolerationSeconds) wins
            return
    tolerations.append(wanted)


def template_generation(ds: Obj) -> str | None:
    return ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)


def daemon_template(ds: Obj, hash_: str) -> Obj:
    """The template daemon pods are made from: the automatic tolerations and the revision labels added."""
    template = copy.deepcopy(ds["spec"]["template"])
    spec = template.setdefault("spec", {})
    tolerations = spec.setdefault("tolerations", [])
    for key, effect in _AUTOMATIC_TOLERATIONS:
        _add_toleration(tolerations, key, effect)
    if spec.get("hostNetwork"):
        _add_toleration(tolerations, *_NETWORK_UNAVAILABLE)
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels[HASH_LABEL] = hash_
    generation = template_generation(ds)
    if generation is not None:
        labels[TEMPLATE_GENERATION_LABEL] = generation
    return template


def pin_to_node(template: Obj, node_name: str) -> Obj:
    """A copy of ``template`` whose required node affinity names exactly ``node_name``.

    The controller has already checked the user's own node affinity, so the term replaces it.
    """
    out = copy.deepcopy(template)
    affinity = out.setdefault("spec", {}).setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
        ]
    }
    return out


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: its ``nodeName``, else the node its affinity pins it to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and len(values) == 1:
                return values[0]
    return ""


def should_run(node: Obj, ds: Obj, template: Obj | None = None) -> tuple[bool, bool]:
    """(should a daemon pod start on ``node``, may one already there keep running).

    ``template`` is ``daemon_template(ds, ...)`` when the caller has it (one copy per sync, not per node).
    """
    name = node["metadata"]["name"]
    template = template or daemon_template(ds, "")
    spec = template["spec"]
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not required_node_affinity_matches(template, name, labels_of(node)):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if first_untolerated(taints, tolerations, ("NoSchedule", "NoExecute")) is not None:
        # Scheduled daemon pods keep running unless a NoExecute taint is untolerated.
        return False, first_untolerated(taints, tolerations, ("NoExecute",)) is None
    return True, True


def is_updated(pod: Obj, hash_: str, generation: str | None) -> bool:
    labels = labels_of(pod)
    return (bool(hash_) and labels.get(HASH_LABEL) == hash_) or (
        generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == generation
    )


def _age_key(pod: Obj) -> tuple[int, float, str]:
    # Running pods first, then the oldest (upstream's podByCreationTimestampAndPhase).
    running = (pod.get("status") or {}).get("phase") == "Running"
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
    return (0 if running else 1, created, pod["metadata"]["name"])


def scaled(value: int | str | None, total: int, default: int) -> int:
    """An int-or-percent against ``total``, rounding up (as upstream's DaemonSet counts do)."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text)


def surge_and_unavailable(ds: Obj, desired: int) -> tuple[int, int]:
    rolling = ((ds["spec"].get("updateStrategy") or {}).get("rollingUpdate")) or {}
    surge = scaled(rolling.get("maxSurge"), desired, 0)
    unavailable = scaled(rolling.get("maxUnavailable"), desired, 1)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1  # an impossible configuration: allow one unavailable, as upstream
    return surge, unavailable


def updated_and_old(
    pods: list[Obj], hash_: str, generation: str | None
) -> tuple[Obj | None, Obj | None, bool]:
    """The live new and old pod of one node; False when there are several of one kind."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        if is_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update_plan(
    ds: Obj, by_node: dict[str, list[Obj]], desired: int, hash_: str, now: float
) -> tuple[list[Obj], list[str]]:
    """(old pods to delete, nodes to start a new pod on) for one RollingUpdate step."""
    surge, unavailable_allowed = surge_and_unavailable(ds, desired)
    min_ready = int(ds["spec"].get("minReadySeconds") or 0)
    generation = template_generation(ds)
    if surge == 0:
        unavailable = 0
        replace_now: list[Obj] = []
        candidates: list[Obj] = []
        for node in sorted(by_node):
            new, old, ok = updated_and_old(by_node[node], hash_, generation)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # being sorted out by the manage step
            elif new is not None:
                if not is_available(new, min_ready, now):
                    unavailable += 1
            elif old is not None:
                if not is_available(old, min_ready, now):
                    replace_now.append(old)  # unavailable anyway: replacing it costs nothing
                elif unavailable < unavailable_allowed:
                    candidates.append(old)
        room = max(min(unavailable_allowed - unavailable, len(candidates)), 0)
        return [*replace_now, *candidates[:room]], []
    surged = 0
    start_now: list[str] = []
    start_candidates: list[str] = []
    to_delete: list[Obj] = []
    for node in sorted(by_node):
        new, old, ok = updated_and_old(by_node[node], hash_, generation)
        if not ok:
            surged += 1
            continue
        if old is None:
            continue  # nothing to replace; the manage step starts a pod if one is missing
        if new is None:
            if not is_available(old, min_ready, now):
                start_now.append(node)
            elif surged < surge:
                start_candidates.append(node)
            continue
        if not is_available(new, min_ready, now):
            surged += 1  # the new pod is still coming up beside the old one
            continue
        to_delete.append(old)
    room = max(min(surge - surged, len(start_candidates)), 0)
    return to_delete, [*start_now, *start_candidates[:room]]


def compute_status(ds: Obj, nodes: list[Obj], by_node: dict[str, list[Obj]], hash_: str, now: float) -> Obj:
    min_ready = int(ds["spec"].get("minReadySeconds") or 0)
    generation = template_generation(ds)
    template = daemon_template(ds, hash_)
    counts = dict.fromkeys(
        (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberMisscheduled",
            "numberReady",
            "numberAvailable",
            "updatedNumberScheduled",
        ),
        0,
    )
    for node in nodes:
        run, _ = should_run(node, ds, template)
        pods = sorted(
            by_node.get(node["metadata"]["name"]) or [],
            key=lambda p: p["metadata"].get("creationTimestamp") or "",
        )
        if not run:
            counts["numberMisscheduled"] += bool(pods)
            continue
        counts["desiredNumberScheduled"] += 1
        if not pods:
            continue
        counts["currentNumberScheduled"] += 1
        oldest = pods[0]
        if is_ready(oldest):
            counts["numberReady"] += 1
            counts["numberAvailable"] += is_available(oldest, min_ready, now)
        counts["updatedNumberScheduled"] += is_updated(oldest, hash_, generation)
    status = {**counts, "numberUnavailable": counts["desiredNumberScheduled"] - counts["numberAvailable"]}
    if status["numberUnavailable"] == 0:
        del status["numberUnavailable"]  # omitted when zero, as upstream's omitempty
    if status["numberAvailable"] == 0:
        del status["numberAvailable"]
    return status


# -- the controller -------------------------------------------------------------------------


class DaemonSetController(Controller):
    name = "daemonset-controller"
    service_account = "daemon-set-controller"
    component = "daemonset-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.burst_replicas = int(self.options.extra.get("daemonset_burst_replicas", BURST_REPLICAS))
        # Creates and deletes are expected at the same time, in one record per DaemonSet.
        self.expectations = Expectations(clock=self.clock)
        self.sets = self.informer(DAEMONSETS)
        self.sets.add_event_handler(
            on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new), on_delete=self._set_deleted
        )
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(
            on_add=lambda _node: self._enqueue_all(),
            on_update=self._node_updated,
            on_delete=lambda _n: self._enqueue_all(),
        )
        self.revisions = self.informer(CONTROLLERREVISIONS)

    # -- handlers --------------------------------------------------------------------

    def _set_deleted(self, ds: Obj) -> None:
        self.expectations.delete(key_of(ds))

    def _enqueue_all(self) -> None:
        for ds in self.sets.store.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Heartbeats change nothing a DaemonSet looks at: labels, taints and unschedulable do.
        def relevant(node: Obj) -> tuple[Any, ...]:
            return (
                labels_of(node),
                (node.get("spec") or {}).get("taints"),
                (node.get("spec") or {}).get("unschedulable"),
            )

        if relevant(old) != relevant(new):
            self._enqueue_all()

    def _set_of(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != KIND:
            return None
        ds = self.sets.store.get_by(name=ref.get("name", ""), namespace=pod["metadata"].get("namespace"))
        if ds is None or ds["metadata"].get("uid") != ref.get("uid"):
            return None
        return ds

    def _enqueue_selecting(self, pod: Obj) -> None:
        for ds in self.sets.store.by_index(BY_NAMESPACE, pod["metadata"].get("namespace") or ""):
            selector = label_selector_from_dict(ds["spec"].get("selector"))
            if not selector.empty and selector.matches(labels_of(pod)):
                self.enqueue(ds)

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        if (ds := self._set_of(pod)) is not None:
            self.expectations.creation_observed(key_of(ds))
            self.enqueue(ds)
        elif controller_ref(pod) is None:
            self._enqueue_selecting(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self._pod_deleted(new)
            return
        if (previous := self._set_of(old)) is not None and self._set_of(new) is None:
            self.enqueue(previous)
        if (ds := self._set_of(new)) is not None:
            self.enqueue(ds)
        elif controller_ref(new) is None:
            self._enqueue_selecting(new)

    def _pod_deleted(self, pod: Obj) -> None:
        if (ds := self._set_of(pod)) is not None:
            self.expectations.deletion_observed(key_of(ds), key_of(pod))
            self.enqueue(ds)

    # -- sync ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.sets.store.get(key)
        if cached is None:
            return None
        ds = copy.deepcopy(cached)
        selector = label_selector_from_dict(ds["spec"].get("selector"))
        if selector.empty:
            self.recorder.event(
                ds,
                "Warning",
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return None
        if ds["metadata"].get("deletionTimestamp"):
            return None
        nodes = self.nodes.store.list()
        current, old_revisions = await self._history(ds)
        hash_ = current["metadata"]["labels"][HASH_LABEL]
        satisfied = self.expectations.satisfied(key)
        if satisfied:
            by_node = await self._pods_by_node(ds, selector)
            await self._manage(ds, nodes, by_node, hash_)
            strategy = (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
            if strategy == "RollingUpdate" and self._satisfied(key):
                by_node = await self._pods_by_node(ds, selector)
                template = daemon_template(ds, hash_)
                desired = sum(1 for n in nodes if should_run(n, ds, template)[0])
                to_delete, to_start = rolling_update_plan(ds, by_node, desired, hash_, time.time())
                await self._sync_nodes(ds, to_delete, to_start, hash_)
            await self._cleanup_history(ds, old_revisions, by_node)
        by_node = await self._pods_by_node(ds, selector)
        status = compute_status(ds, nodes, by_node, hash_, time.time())
        await self._write_status(ds, status, observed=satisfied)
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("numberReady", 0) != status.get("numberAvailable", 0):
            return float(min_ready)
        return None

    def _satisfied(self, key: str) -> bool:
        return self.expectations.satisfied(key)

    async def _pods_by_node(self, ds: Obj, selector: Any) -> dict[str, list[Obj]]:
        candidates = self.pods.store.by_index(BY_NAMESPACE, ds["metadata"]["namespace"])
        pods = await claim(
            self.client, PODS, ds, selector, candidates, owner_api_version=API_VERSION, owner_kind=KIND
        )
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") in (
                "Succeeded",
                "Failed",
            ):
                continue
            node = target_node(pod)
            if node:
                by_node.setdefault(node, []).append(pod)
        return by_node

    # -- revisions ---------------------------------------------------------------------

    async def _history(self, ds: Obj) -> tuple[Obj, list[Obj]]:
        namespace = ds["metadata"]["namespace"]
        owned = history.owned_revisions(self.revisions.store.by_index(BY_NAMESPACE, namespace), ds)
        patch = history.template_patch(ds)
        current = [r for r in owned if history.canonical(r.get("data")) == history.canonical(patch)]
        old = [r for r in owned if r not in current]
        number = max((history.revision_of(r) for r in old), default=0) + 1
        if not current:
            return await self._snapshot(ds, number), old
        # Several equal revisions can only come from a race: keep the newest, drop the others.
        current = history.sort_revisions(current)
        keep = current[-1]
        for extra in current[:-1]:
            await self._delete_revision(extra)
        if history.revision_of(keep) < number:
            keep = copy.deepcopy(keep)
            keep["revision"] = number
            keep = await self.client.update(CONTROLLERREVISIONS, keep, namespace=namespace)
        return keep, old

    async def _snapshot(self, ds: Obj, number: int) -> Obj:
        namespace = ds["metadata"]["namespace"]
        collisions = (ds.get("status") or {}).get("collisionCount")
        hash_ = history.template_hash(ds["spec"]["template"], collisions)
        body = history.new_revision(
            ds, api_version=API_VERSION, kind=KIND, revision=number, collision_count=collisions, hash_=hash_
        )
        body["metadata"]["name"] = f"{ds['metadata']['name']}-{hash_}"
        try:
            return await self.client.create(CONTROLLERREVISIONS, body, namespace=namespace)
        except StatusError as exc:
            if exc.code != 409 or exc.reason != "AlreadyExists":
                raise
        existing = await self.client.get(
            CONTROLLERREVISIONS, name=body["metadata"]["name"], namespace=namespace
        )
        if history.canonical(existing.get("data")) == history.canonical(body["data"]):
            return existing
        # A namesake with another template: count a collision (a new hash next time) and retry.
        status = dict(ds.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        await self.client.update(
            DAEMONSETS, {**ds, "status": status}, namespace=namespace, subresource="status"
        )
        raise StatusError(409, "AlreadyExists", f"hash collision for DaemonSet {ds['metadata']['name']}")

    async def _delete_revision(self, revision: Obj) -> None:
        try:
            await self.client.delete(
                CONTROLLERREVISIONS,
                name=revision["metadata"]["name"],
                namespace=revision["metadata"]["namespace"],
            )
        except StatusError as exc:
            if exc.code != 404:
                raise

    async def _cleanup_history(self, ds: Obj, old: list[Obj], by_node: dict[str, list[Obj]]) -> None:
        limit = ds["spec"].get("revisionHistoryLimit")
        keep = history.DEFAULT_REVISION_HISTORY_LIMIT if limit is None else int(limit)
        surplus = len(old) - keep
        if surplus <= 0:
            return
        live = {labels_of(p).get(HASH_LABEL) for pods in by_node.values() for p in pods}
        for revision in history.sort_revisions(old):
            if surplus <= 0:
                break
            if history.revision_hash(revision) in live:
                continue
            await self._delete_revision(revision)
            surplus -= 1

    # -- pods ----------------------------------------------------------------------------

    async def _manage(self, ds: Obj, nodes: list[Obj], by_node: dict[str, list[Obj]], hash_: str) -> None:
        to_start: list[str] = []
        to_delete: list[Obj] = []
        surge_allowed = surge_and_unavailable(ds, 1)[0] > 0 and (
            (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        )
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = time.time()
        template = daemon_template(ds, hash_)
        node_names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            run, keep = should_run(node, ds, template)
            pods = by_node.get(name) or []
            if run and not pods:
                to_start.append(name)
            elif keep:
                running: list[Obj] = []
                for pod in pods:
                    if pod["metadata"].get("deletionTimestamp"):
                        continue
                    phase = (pod.get("status") or {}).get("phase")
                    if phase == "Failed":
                        self.recorder.event(
                            ds,
                            "Warning",
                            "FailedDaemonPod",
                            f"Found failed daemon pod {key_of(pod)} on node {name}, will try to kill it",
                        )
                        to_delete.append(pod)
                    elif phase == "Succeeded":
                        to_delete.append(pod)
                    else:
                        running.append(pod)
                to_delete += _duplicates(
                    running, hash_, template_generation(ds), surge_allowed, min_ready, now
                )
            elif pods:
                to_delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        # Pods waiting for a node that no longer exists will never be scheduled.
        for node_name, pods in by_node.items():
            if node_name not in node_names:
                to_delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
        await self._sync_nodes(ds, to_delete, to_start, hash_)

    async def _sync_nodes(self, ds: Obj, to_delete: list[Obj], to_start: list[str], hash_: str) -> None:
        key = key_of(ds)
        to_start = to_start[: self.burst_replicas]
        to_delete = to_delete[: self.burst_replicas]
        self.expectations.expect(key, creations=len(to_start), deletions=[key_of(p) for p in to_delete])
        errors: list[Exception] = []
        template = daemon_template(ds, hash_)
        namespace = ds["metadata"]["namespace"]
        queue = list(to_start)

        async def create_one() -> None:
            node = queue.pop(0)
            body = pod_from_template(
                pin_to_node(template, node), ds, owner_api_version=API_VERSION, owner_kind=KIND
            )
            try:
                pod = await self.client.create(PODS, body, namespace=namespace)
            except StatusError as exc:
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {exc}")
                raise
            self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

        async def delete_one(pod: Obj) -> None:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, name=meta["name"], namespace=meta["namespace"])
            except StatusError as exc:
                self.expectations.deletion_observed(key, key_of(pod))
                if exc.code == 404:
                    return
                self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {exc}")
                raise
            self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

        successes, error = await slow_start_batch(len(to_start), 1, create_one)
        for _ in range(len(to_start) - successes):
            self.expectations.creation_observed(key)
        if error is not None:
            errors.append(error)
        results = await asyncio.gather(*(delete_one(p) for p in to_delete), return_exceptions=True)
        errors += [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]

    async def _write_status(self, ds: Obj, computed: Obj, *, observed: bool) -> None:
        previous = ds.get("status") or {}
        status = {
            k: v for k, v in previous.items() if k in ("collisionCount", "conditions", "observedGeneration")
        }
        status.update(computed)
        if observed:
            status["observedGeneration"] = ds["metadata"].get("generation", 0)
        if status == previous:
            return
        try:
            await self.client.update(
                DAEMONSETS,
                {**ds, "status": status},
                namespace=ds["metadata"]["namespace"],
                subresource="status",
            )
        except StatusError as exc:
            if exc.code != 404:
                raise


def _duplicates(
    running: list[Obj], hash_: str, generation: str | None, surge: bool, min_ready: int, now: float
) -> list[Obj]:
    """Pods beyond the one a node should run (two while surging, until the new one is available)."""
    if len(running) <= 1:
        return []
    ordered = sorted(running, key=_age_key)
    if not surge:
        return ordered[1:]  # keep the oldest
    extra: list[Obj] = []
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    for pod in ordered:
        if is_updated(pod, hash_, generation):
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        extra.append(pod)
    both = oldest_new is not None and oldest_old is not None
    if both and (not is_ready(oldest_old) or is_available(oldest_new, min_ready, now)):  # type: ignore[arg-type]
        extra.append(oldest_old)  # type: ignore[arg-type]
    return extra
