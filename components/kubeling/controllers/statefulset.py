"""StatefulSets: pods with stable names, stable storage and an order.

Pod ``<set>-<ordinal>`` for each ordinal in ``[0, replicas)``, labelled
``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
``controller-revision-hash`` (the name of the ControllerRevision it was made
from), with ``hostname``/``subdomain`` from ``serviceName``.  Each
``volumeClaimTemplates`` entry becomes a PVC ``<claim>-<set>-<ordinal>``,
created before the pod and never owned by the set (upstream's default
``Retain`` policy keeps data through scale-down and deletion).

A sync, as upstream's ``defaultStatefulSetControl``:

1. records the template as a ControllerRevision (the update revision;
   ``status.currentRevision`` is the one the set is rolling away from);
2. walks ordinals upwards: creates a missing pod, replaces a finished one;
   under ``OrderedReady`` it stops at the first pod that is not yet Running
   and Ready (and available, with ``minReadySeconds``), so pods come up one
   at a time; ``Parallel`` creates them all at once;
3. deletes pods beyond ``replicas``, highest ordinal first, one at a time
   under ``OrderedReady``;
4. ``RollingUpdate``: deletes the highest-ordinal pod at or above
   ``partition`` that is not at the update revision, once every pod above it
   is healthy (the next sync re-creates it from the new template);
   ``OnDelete`` waits for the user to delete pods;
5. writes the status and prunes revisions beyond ``revisionHistoryLimit``.
"""

from __future__ import annotations

import copy
import logging
import re
import time

from kubeling.api.errors import StatusError
from kubeling.api.selectors import label_selector_from_dict
from kubeling.client.store import BY_NAMESPACE, Obj
from kubeling.controllers import history
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.ownership import claim, controller_ref, labels_of
from kubeling.controllers.podutil import is_available, is_ready, is_terminal, pod_from_template
from kubeling.controllers.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS

log = logging.getLogger(__name__)

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = history.CONTROLLER_REVISION_HASH_LABEL
KIND = "StatefulSet"
API_VERSION = "apps/v1"

_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def ordinal_of(set_name: str, pod: Obj) -> int:
    """The ordinal in the pod's name, or -1 when the pod is not named as a member of the set."""
    match = _ORDINAL.match(pod["metadata"].get("name", ""))
    if match is None or match.group(1) != set_name:
        return -1
    return int(match.group(2))


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    return f"{template_name}-{set_name}-{ordinal}"


def is_created(pod: Obj | None) -> bool:
    return pod is not None and bool((pod.get("status") or {}).get("phase"))


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def pod_revision(pod: Obj) -> str:
    return labels_of(pod).get(REVISION_LABEL, "")


def new_pod(sts: Obj, revision_name: str, ordinal: int) -> Obj:
    """Pod ``ordinal`` of ``sts`` (whose template is the revision's), with its identity and storage."""
    name = f"{sts['metadata']['name']}-{ordinal}"
    pod = pod_from_template(
        sts["spec"]["template"], sts, name=name, owner_api_version=API_VERSION, owner_kind=KIND
    )
    labels = pod["metadata"]["labels"]
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    labels[REVISION_LABEL] = revision_name
    spec = pod["spec"]
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    claims = sts["spec"].get("volumeClaimTemplates") or []
    if claims:
        wanted = {c["metadata"]["name"] for c in claims}
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in wanted]
        for template in claims:
            source = {"claimName": claim_name(template["metadata"]["name"], sts["metadata"]["name"], ordinal)}
            volumes.append({"name": template["metadata"]["name"], "persistentVolumeClaim": source})
        spec["volumes"] = volumes
    return pod


def claims_for(sts: Obj, ordinal: int) -> list[Obj]:
    """The PVCs pod ``ordinal`` mounts, labelled with the set's selector labels as upstream does."""
    selector_labels = ((sts["spec"].get("selector") or {}).get("matchLabels")) or {}
    result = []
    for template in sts["spec"].get("volumeClaimTemplates") or []:
        meta = template.get("metadata") or {}
        claim_meta: Obj = {
            "name": claim_name(meta["name"], sts["metadata"]["name"], ordinal),
            "labels": {**(meta.get("labels") or {}), **selector_labels},
        }
        if meta.get("annotations"):
            claim_meta["annotations"] = dict(meta["annotations"])
        result.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": claim_meta,
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
        )
    return result


class StatefulSetController(Controller):
    name = "statefulset-controller"
    service_account = "statefulset-controller"
    component = "statefulset-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.watch(STATEFULSETS)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed
        )
        self.revisions = self.informer(CONTROLLERREVISIONS)
        self.revisions.add_event_handler(on_delete=self._pod_changed)
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)

    # -- handlers --------------------------------------------------------------------

    def _set_of(self, obj: Obj) -> Obj | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != KIND:
            return None
        sts = self.sets.store.get_by(name=ref.get("name", ""), namespace=obj["metadata"].get("namespace"))
        if sts is None or sts["metadata"].get("uid") != ref.get("uid"):
            return None
        return sts

    def _pod_changed(self, pod: Obj) -> None:
        if (sts := self._set_of(pod)) is not None:
            self.enqueue(sts)
        elif controller_ref(pod) is None:
            self._enqueue_selecting(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if (previous := self._set_of(old)) is not None and self._set_of(new) is None:
            self.enqueue(previous)
        self._pod_changed(new)

    def _enqueue_selecting(self, pod: Obj) -> None:
        for sts in self.sets.store.by_index(BY_NAMESPACE, pod["metadata"].get("namespace") or ""):
            selector = label_selector_from_dict(sts["spec"].get("selector"))
            if not selector.empty and selector.matches(labels_of(pod)):
                self.enqueue(sts)

    # -- sync ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.sets.store.get(key)
        if cached is None:
            return None
        sts = copy.deepcopy(cached)
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        selector = label_selector_from_dict(sts["spec"].get("selector"))
        members = [p for p in self.pods.store.by_index(BY_NAMESPACE, namespace) if ordinal_of(name, p) >= 0]
        pods = await claim(
            self.client, PODS, sts, selector, members, owner_api_version=API_VERSION, owner_kind=KIND
        )
        revisions = history.owned_revisions(self.revisions.store.by_index(BY_NAMESPACE, namespace), sts)
        current, update, collisions = await self._revisions(sts, revisions)
        status, requeue = await self._update_pods(sts, current, update, collisions, pods)
        await self._write_status(sts, status)
        await self._truncate_history(sts, pods, current, update, revisions)
        return requeue

    # -- revisions ---------------------------------------------------------------------

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        revisions = history.sort_revisions(revisions)
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        wanted = history.new_revision(
            sts,
            api_version=API_VERSION,
            kind=KIND,
            revision=history.next_revision(revisions),
            collision_count=collisions,
        )
        equal = history.find_equal_revisions(revisions, wanted)
        if equal and history.equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]  # unchanged template
        elif equal:
            # Back to an earlier template: that revision becomes the newest again.
            revived = copy.deepcopy(equal[-1])
            revived["revision"] = wanted["revision"]
            update = await self.client.update(
                CONTROLLERREVISIONS, revived, namespace=sts["metadata"]["namespace"]
            )
        else:
            update, collisions = await self._create_revision(sts, wanted, collisions)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collisions

    async def _create_revision(self, sts: Obj, wanted: Obj, collisions: int) -> tuple[Obj, int]:
        namespace = sts["metadata"]["namespace"]
        while True:
            try:
                return await self.client.create(CONTROLLERREVISIONS, wanted, namespace=namespace), collisions
            except StatusError as exc:
                if exc.code != 409 or exc.reason != "AlreadyExists":
                    raise
                existing = await self.client.get(
                    CONTROLLERREVISIONS, name=wanted["metadata"]["name"], namespace=namespace
                )
                if history.equal_revision(existing, wanted):
                    return existing, collisions
                collisions += 1  # a namesake with other data: a new hash
                wanted = history.new_revision(
                    sts,
                    api_version=API_VERSION,
                    kind=KIND,
                    revision=wanted["revision"],
                    collision_count=collisions,
                )

    async def _truncate_history(
        self, sts: Obj, pods: list[Obj], current: Obj, update: Obj, revisions: list[Obj]
    ) -> None:
        live = {pod_revision(p) for p in pods} | {current["metadata"]["name"], update["metadata"]["name"]}
        for revision in history.revisions_to_prune(revisions, live, sts["spec"].get("revisionHistoryLimit")):
            try:
                await self.client.delete(
                    CONTROLLERREVISIONS,
                    name=revision["metadata"]["name"],
                    namespace=sts["metadata"]["namespace"],
                )
            except StatusError as exc:
                if exc.code != 404:
                    raise

    # -- pods ----------------------------------------------------------------------------

    async def _update_pods(
        self, sts: Obj, current: Obj, update: Obj, collisions: int, pods: list[Obj]
    ) -> tuple[Obj, float | None]:
        spec = sts["spec"]
        name = sts["metadata"]["name"]
        replicas = int(spec.get("replicas", 1))
        min_ready = int(spec.get("minReadySeconds") or 0)
        current_name, update_name = current["metadata"]["name"], update["metadata"]["name"]
        current_set = history.apply_revision(sts, current)
        update_set = history.apply_revision(sts, update)
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0

        def versioned(ordinal: int) -> Obj:
            if rolling and ordinal < partition:
                return new_pod(current_set, current_name, ordinal)
            return new_pod(update_set, update_name, ordinal)

        slots: list[Obj | None] = [None] * replicas
        condemned: list[Obj] = []
        for pod in pods:
            ordinal = ordinal_of(name, pod)
            if 0 <= ordinal < replicas:
                slots[ordinal] = pod
            elif ordinal >= replicas:
                condemned.append(pod)
        condemned.sort(key=lambda p: ordinal_of(name, p), reverse=True)
        status = self._status(sts, pods, current_name, update_name, collisions, min_ready)
        if sts["metadata"].get("deletionTimestamp"):
            return status, None
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        first_unhealthy = next(
            (p for p in [*(s for s in slots if s is not None), *condemned] if not is_healthy(p)), None
        )
        now = time.time()

        for ordinal in range(replicas):
            pod = slots[ordinal]
            if pod is not None and is_terminal(pod) and not is_terminating(pod):
                # A finished pod is replaced: delete it now, re-create it on a later sync.
                await self._delete_pod(sts, pod)
                if monotonic:
                    return status, None
                continue
            if pod is None:
                await self._create_pod(sts, versioned(ordinal))
                if monotonic:
                    return status, None
                continue
            if not monotonic:
                continue
            if is_terminating(pod) or not is_running_and_ready(pod):
                return status, None  # wait: the next pod starts only after this one is Running and Ready
            if not is_available(pod, min_ready, now):
                return status, float(min_ready)

        for pod in condemned:
            if is_terminating(pod):
                if monotonic:
                    return status, None
                continue
            if monotonic and not is_running_and_ready(pod) and pod is not first_unhealthy:
                return status, None
            await self._delete_pod(sts, pod)
            if monotonic:
                return status, None

        if not rolling:
            return status, None  # OnDelete: pods change template only when the user deletes them
        for ordinal in range(replicas - 1, partition - 1, -1):
            pod = slots[ordinal]
            if pod is None:
                continue
            if pod_revision(pod) != update_name and not is_terminating(pod):
                await self._delete_pod(sts, pod)
                return status, None
            if not is_healthy(pod):
                return status, None  # the rollout goes on only over healthy pods
        return status, None

    def _status(
        self, sts: Obj, pods: list[Obj], current_name: str, update_name: str, collisions: int, min_ready: int
    ) -> Obj:
        now = time.time()
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 0),
            "replicas": 0,
            "readyReplicas": 0,
            "currentReplicas": 0,
            "updatedReplicas": 0,
            "availableReplicas": 0,
            "currentRevision": current_name,
            "updateRevision": update_name,
            "collisionCount": collisions,
        }
        for pod in pods:
            if is_created(pod):
                status["replicas"] += 1
            if is_running_and_ready(pod):
                status["readyReplicas"] += 1
                if is_available(pod, min_ready, now):
                    status["availableReplicas"] += 1
            if is_created(pod) and not is_terminating(pod):
                revision = pod_revision(pod)
                status["currentReplicas"] += revision == current_name
                status["updatedReplicas"] += revision == update_name
        return status

    async def _create_pod(self, sts: Obj, pod: Obj) -> None:
        namespace, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = pod["metadata"]["name"]
        ordinal = int(pod["metadata"]["labels"][POD_INDEX_LABEL])
        for pvc in claims_for(sts, ordinal):
            pvc_name = pvc["metadata"]["name"]
            if self.claims.store.get_by(name=pvc_name, namespace=namespace) is not None:
                continue
            try:
                await self.client.create(PERSISTENTVOLUMECLAIMS, pvc, namespace=namespace)
            except StatusError as exc:
                if exc.code == 409:
                    continue  # made by an earlier sync, not yet in our cache
                self.recorder.event(
                    sts,
                    "Warning",
                    "FailedCreate",
                    f"create Claim {pvc_name} for Pod {pod_name} in StatefulSet {set_name} "
                    f"failed error: {exc}",
                )
                raise
            self.recorder.event(
                sts,
                "Normal",
                "SuccessfulCreate",
                f"create Claim {pvc_name} Pod {pod_name} in StatefulSet {set_name} success",
            )
        try:
            await self.client.create(PODS, pod, namespace=namespace)
        except StatusError as exc:
            if exc.code == 409:
                return  # created by an earlier sync: our cache will see it
            self.recorder.event(
                sts,
                "Warning",
                "FailedCreate",
                f"create Pod {pod_name} in StatefulSet {set_name} failed error: {exc}",
            )
            raise
        self.recorder.event(
            sts, "Normal", "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {set_name} successful"
        )

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        namespace, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = pod["metadata"]["name"]
        try:
            await self.client.delete(
                PODS, name=pod_name, namespace=namespace, preconditions={"uid": pod["metadata"]["uid"]}
            )
        except StatusError as exc:
            if exc.code in (404, 409):
                return
            self.recorder.event(
                sts,
                "Warning",
                "FailedDelete",
                f"delete Pod {pod_name} in StatefulSet {set_name} failed error: {exc}",
            )
            raise
        self.recorder.event(
            sts, "Normal", "SuccessfulDelete", f"delete Pod {pod_name} in StatefulSet {set_name} successful"
        )

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        strategy = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if (
            strategy == "RollingUpdate"
            and status["updatedReplicas"] == status["replicas"]
            and status["readyReplicas"] == status["replicas"]
        ):
            # The rollout is over: the update revision is now the current one.
            status["currentRevision"] = status["updateRevision"]
            status["currentReplicas"] = status["updatedReplicas"]
        previous = sts.get("status") or {}
        merged = {**previous, **status}
        if merged == previous:
            return
        try:
            await self.client.update(
                STATEFULSETS,
                {**sts, "status": merged},
                namespace=sts["metadata"]["namespace"],
                subresource="status",
            )
        except StatusError as exc:
            if exc.code != 404:
                raise
