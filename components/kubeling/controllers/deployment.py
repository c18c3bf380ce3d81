"""Deployments: roll a pod template out through ReplicaSets, one ReplicaSet per template.

A sync (upstream's ``syncDeployment``) claims the ReplicaSets its selector
matches, then takes the first branch that applies:

- being deleted → only the status is brought up to date;
- paused, or resized (a live ReplicaSet's ``desired-replicas`` annotation
  differs from ``spec.replicas``) → :meth:`_sync`: resize proportionally
  across the live ReplicaSets, no rollout step;
- ``Recreate`` → scale every old ReplicaSet to 0, wait until their pods are
  gone, then create/scale the new one;
- ``RollingUpdate`` → grow the new ReplicaSet within ``replicas + maxSurge``,
  shrink old ones while at least ``replicas - maxUnavailable`` stay
  available (unhealthy old replicas go first), and clean up old history.

The "new" ReplicaSet is the oldest one whose template equals the
Deployment's ignoring ``pod-template-hash``; one is created (named
``<deployment>-<hash>``, the hash also in its selector and template labels)
when none matches.  Revisions live in the ``deployment.kubernetes.io/revision``
annotation of ReplicaSets and Deployment; a ReplicaSet that becomes new again
(``kubectl rollout undo``) takes the next revision and remembers its old ones
in ``revision-history``.  Status and the Progressing/Available conditions
are computed by :mod:`deploymentutil` and written through ``/status``; a
Deployment that makes no progress within ``progressDeadlineSeconds`` gets
``ProgressDeadlineExceeded`` (the sync asks to be called back at the
deadline).  The arithmetic lives in :mod:`deploymentutil`; this module does
the reading and writing.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import label_selector_from_dict
from kubeling.client.store import BY_NAMESPACE, Obj
from kubeling.controllers import deploymentutil as du
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.history import POD_TEMPLATE_HASH_LABEL, template_hash
from kubeling.controllers.ownership import claim, controller_ref, labels_of, new_controller_ref
from kubeling.controllers.podutil import now_rfc3339, parse_time
from kubeling.controllers.resources import DEPLOYMENTS, PODS, REPLICASETS

log = logging.getLogger(__name__)

RS_CONTROLLER_INDEX = "workloads:replicaset-controller-uid"


def _controller_uid(obj: Obj) -> list[str]:
    ref = controller_ref(obj)
    return [ref["uid"]] if ref and ref.get("uid") else []


class DeploymentController(Controller):
    name = "deployment-controller"
    service_account = "deployment-controller"
    component = "deployment-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = self.watch(DEPLOYMENTS)
        self.replicasets = self.informer(REPLICASETS, indexers={RS_CONTROLLER_INDEX: _controller_uid})
        self.replicasets.add_event_handler(
            on_add=self._rs_added, on_update=self._rs_updated, on_delete=self._rs_deleted
        )
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_delete=self._pod_deleted)

    # -- handlers --------------------------------------------------------------------

    def _deployment_of(self, obj: Obj) -> Obj | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployments.store.get_by(
            name=ref.get("name", ""), namespace=obj["metadata"].get("namespace")
        )
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return d

    def _enqueue_selecting(self, rs: Obj) -> None:
        labels = labels_of(rs)
        for d in self.deployments.store.by_index(BY_NAMESPACE, rs["metadata"].get("namespace") or ""):
            selector = label_selector_from_dict((d.get("spec") or {}).get("selector"))
            if not selector.empty and selector.matches(labels):
                self.enqueue(d)

    def _rs_added(self, rs: Obj) -> None:
        if controller_ref(rs) is None:
            self._enqueue_selecting(rs)
        elif (d := self._deployment_of(rs)) is not None:
            self.enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        moved = old_ref is not None and (new_ref is None or new_ref.get("uid") != old_ref.get("uid"))
        if moved and (previous := self._deployment_of(old)) is not None:
            self.enqueue(previous)
        if new_ref is not None:
            if (d := self._deployment_of(new)) is not None:
                self.enqueue(d)
        elif labels_of(old) != labels_of(new) or old_ref is not None:
            self._enqueue_selecting(new)

    def _rs_deleted(self, rs: Obj) -> None:
        if (d := self._deployment_of(rs)) is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Obj) -> None:
        # Only Recreate waits for pods to be gone before it starts the new ReplicaSet.
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.store.get_by(
            name=ref.get("name", ""), namespace=pod["metadata"].get("namespace")
        )
        if rs is None or (d := self._deployment_of(rs)) is None:
            return
        if ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)

    # -- sync ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.deployments.store.get(key)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        selector = label_selector_from_dict((d.get("spec") or {}).get("selector"))
        if selector.empty:
            self.recorder.event(
                d,
                "Warning",
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            status = d.setdefault("status", {})
            if int(status.get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                status["observedGeneration"] = d["metadata"]["generation"]
                await self._update_status(d)
            return None
        namespace = d["metadata"]["namespace"]
        candidates = self.replicasets.store.by_index(BY_NAMESPACE, namespace)
        rss = await claim(
            self.client,
            REPLICASETS,
            d,
            selector,
            candidates,
            owner_api_version="apps/v1",
            owner_kind="Deployment",
        )
        rss = [copy.deepcopy(rs) for rs in rss]
        if d["metadata"].get("deletionTimestamp"):
            new, old = await self._new_and_old(d, rss, create=False)
            await self._sync_status(d, [*old, new], new)
            return None
        await self._check_paused_conditions(d)
        if d["spec"].get("paused") or await self._is_scaling_event(d, rss):
            return await self._sync(d, rss)
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            return await self._rollout_recreate(d, rss)
        return await self._rollout_rolling(d, rss)

    # -- the new ReplicaSet ------------------------------------------------------------

    async def _new_and_old(self, d: Obj, rss: list[Obj], *, create: bool) -> tuple[Obj | None, list[Obj]]:
        existing = du.find_new(d, rss)
        old = du.find_old(d, rss, existing)
        new = await self._new_rs(d, rss, old, existing, create=create)
        return new, old

    async def _new_rs(
        self, d: Obj, rss: list[Obj], old: list[Obj], existing: Obj | None, *, create: bool
    ) -> Obj | None:
        new_revision = str(du.max_revision(old) + 1)
        now = now_rfc3339()
        if existing is not None:
            rs = copy.deepcopy(existing)
            changed = du.set_new_rs_annotations(d, rs, new_revision, exists=True)
            min_ready = d["spec"].get("minReadySeconds") or 0
            if changed or (rs["spec"].get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                return await self._update_rs(rs)
            needs_update = du.set_deployment_revision(d, du.annotations(rs).get(du.REVISION, new_revision))
            status = d.setdefault("status", {})
            if du.has_progress_deadline(d) and du.get_condition(status, du.PROGRESSING) is None:
                message = f'Found new replica set "{rs["metadata"]["name"]}"'
                du.set_condition(
                    status, du.new_condition(du.PROGRESSING, "True", du.FOUND_NEW_RS, message, now)
                )
                needs_update = True
            if needs_update:
                await self._update_status(d)
            return rs
        if not create:
            return None
        return await self._create_new_rs(d, old, new_revision)

    async def _create_new_rs(self, d: Obj, old: list[Obj], new_revision: str) -> Obj | None:
        namespace = d["metadata"]["namespace"]
        status = d.setdefault("status", {})
        template = copy.deepcopy(d["spec"]["template"])
        hash_ = template_hash(d["spec"]["template"], status.get("collisionCount"))
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {
            **(template["metadata"].get("labels") or {}),
            POD_TEMPLATE_HASH_LABEL: hash_,
        }
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: hash_}
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{d['metadata']['name']}-{hash_}",
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [new_controller_ref(d, api_version="apps/v1", kind="Deployment")],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                "selector": selector,
                "template": template,
            },
        }
        rs["spec"]["replicas"] = du.new_rs_new_replicas(d, [*old, rs], rs)
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        already_exists = False
        now = now_rfc3339()
        try:
            created = await self.client.create(REPLICASETS, rs, namespace=namespace)
        except StatusError as exc:
            if exc.code == 409 and exc.reason == "AlreadyExists":
                current = await self.client.get(REPLICASETS, name=rs["metadata"]["name"], namespace=namespace)
                ref = controller_ref(current)
                if (
                    ref is not None
                    and ref.get("uid") == d["metadata"]["uid"]
                    and du.equal_ignore_hash(current["spec"]["template"], d["spec"]["template"])
                ):
                    created, already_exists = current, True
                else:
                    # A namesake with another template: count a collision, which changes the hash.
                    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                    await self._update_status(d)
                    raise
            elif exc.code == 403 and _namespace_terminating(exc):
                raise
            else:
                message = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc}'
                if du.has_progress_deadline(d):
                    cond = du.new_condition(du.PROGRESSING, "False", du.FAILED_RS_CREATE, message, now)
                    du.set_condition(status, cond)
                    await self._update_status(d)
                self.recorder.event(d, "Warning", "FailedCreate", message)
                raise
        replicas = du.spec_replicas(created)
        if not already_exists and replicas > 0:
            self.recorder.event(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}",
            )
        needs_update = du.set_deployment_revision(d, new_revision)
        if not already_exists and du.has_progress_deadline(d):
            message = f'Created new replica set "{created["metadata"]["name"]}"'
            du.set_condition(
                status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_CREATED, message, now)
            )
            needs_update = True
        if needs_update:
            await self._update_status(d)
        return created

    # -- writes --------------------------------------------------------------------------

    async def _update_rs(self, rs: Obj) -> Obj:
        return await self.client.update(REPLICASETS, rs, namespace=rs["metadata"]["namespace"])

    async def _update_status(self, d: Obj) -> None:
        """Write d's status (and annotations); d becomes the stored object, fresh resourceVersion included."""
        written = await self.client.update(
            DEPLOYMENTS, d, namespace=d["metadata"]["namespace"], subresource="status"
        )
        d.clear()
        d.update(written)

    async def _scale(self, rs: Obj, size: int, d: Obj) -> tuple[bool, Obj]:
        """Set ``rs``'s size and replicas annotations; returns (size changed, the stored ReplicaSet)."""
        resize = du.spec_replicas(rs) != size
        desired, most = du.spec_replicas(d), du.spec_replicas(d) + du.max_surge(d)
        if not resize and not du.replicas_annotations_need_update(rs, desired, most):
            return False, rs
        before = du.spec_replicas(rs)
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = size
        du.set_replicas_annotations(updated, desired, most)
        stored = await self._update_rs(updated)
        if resize:
            direction = "up" if size > before else "down"
            self.recorder.event(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {size}",
            )
        return resize, stored

    async def _scale_and_record(self, rs: Obj, size: int, d: Obj) -> tuple[bool, Obj]:
        if du.spec_replicas(rs) == size:
            return False, rs
        return await self._scale(rs, size, d)

    # -- resizing without a rollout ----------------------------------------------------------

    async def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new, old = await self._new_and_old(d, rss, create=False)
        for rs in du.active([*old, new]):
            desired = du.int_annotation(rs, du.DESIRED_REPLICAS)
            if desired is not None and desired != du.spec_replicas(d):
                return True
        return False

    async def _sync(self, d: Obj, rss: list[Obj]) -> float | None:
        new, old = await self._new_and_old(d, rss, create=False)
        new, old = await self._resize(d, new, old)
        if d["spec"].get("paused"):
            await self._cleanup(d, old)
        await self._sync_status(d, [*old, new], new)
        return None

    async def _resize(self, d: Obj, new: Obj | None, old: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        """Upstream's ``scale``: give every live ReplicaSet its share of a changed ``spec.replicas``."""
        only = du.find_active_or_latest(new, old)
        if only is not None:
            if du.spec_replicas(only) != du.spec_replicas(d):
                _, stored = await self._scale_and_record(only, du.spec_replicas(d), d)
                return _replace(new, old, stored)
            return new, old
        if du.is_saturated(d, new):
            for rs in du.active(old):
                _, stored = await self._scale_and_record(rs, 0, d)
                new, old = _replace(new, old, stored)
            return new, old
        if du.is_rolling_update(d):
            sizes = du.proportional_sizes(d, [*old, *([new] if new else [])])
            for rs in du.active([*old, new]):
                _, stored = await self._scale(rs, sizes[rs["metadata"]["name"]], d)
                new, old = _replace(new, old, stored)
        return new, old

    # -- RollingUpdate ------------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> float | None:
        new, old = await self._new_and_old(d, rss, create=True)
        assert new is not None
        scaled, new = await self._reconcile_new(d, [*old, new], new)
        if scaled:
            return await self._sync_rollout_status(d, [*old, new], new)
        scaled, old = await self._reconcile_old(d, old, new)
        if scaled:
            return await self._sync_rollout_status(d, [*old, new], new)
        if du.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        return await self._sync_rollout_status(d, [*old, new], new)

    async def _reconcile_new(self, d: Obj, all_rss: list[Obj], new: Obj) -> tuple[bool, Obj]:
        wanted = du.spec_replicas(d)
        if du.spec_replicas(new) == wanted:
            return False, new
        if du.spec_replicas(new) > wanted:
            return await self._scale_and_record(new, wanted, d)
        return await self._scale_and_record(new, du.new_rs_new_replicas(d, list(all_rss), new), d)

    async def _reconcile_old(self, d: Obj, old: list[Obj], new: Obj) -> tuple[bool, list[Obj]]:
        if du.replica_count(list(old)) == 0:
            return False, old
        all_pods = du.replica_count([*old, new])
        min_available = du.spec_replicas(d) - du.max_unavailable(d)
        new_unavailable = du.spec_replicas(new) - du.status_int(new, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False, old
        # First the old replicas that are not available anyway: removing them costs nothing.
        cleaned, old = await self._cleanup_unhealthy(d, old, max_scaled_down)
        scaled, old = await self._scale_down_old(d, old, new)
        return cleaned + scaled > 0, old

    async def _cleanup_unhealthy(self, d: Obj, old: list[Obj], most: int) -> tuple[int, list[Obj]]:
        total = 0
        result = list(old)
        for i, rs in sorted(enumerate(result), key=lambda item: du.creation_key(item[1])):
            if total >= most:
                break
            replicas, available = du.spec_replicas(rs), du.status_int(rs, "availableReplicas")
            if replicas == 0 or replicas == available:
                continue
            down = min(most - total, replicas - available)
            _, result[i] = await self._scale_and_record(rs, replicas - down, d)
            total += down
        return total, result

    async def _scale_down_old(self, d: Obj, old: list[Obj], new: Obj) -> tuple[int, list[Obj]]:
        min_available = du.spec_replicas(d) - du.max_unavailable(d)
        # A ReplicaSet never keeps more available pods than its size, even if its status lags a scale-down.
        available = sum(
            min(du.status_int(rs, "availableReplicas"), du.spec_replicas(rs)) for rs in [*old, new]
        )
        if available <= min_available:
            return 0, old
        to_remove = available - min_available
        total = 0
        result = list(old)
        for i, rs in sorted(enumerate(result), key=lambda item: du.creation_key(item[1])):
            if total >= to_remove:
                break
            replicas = du.spec_replicas(rs)
            if replicas == 0:
                continue
            down = min(replicas, to_remove - total)
            _, result[i] = await self._scale_and_record(rs, replicas - down, d)
            total += down
        return total, result

    # -- Recreate -----------------------------------------------------------------------------

    async def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> float | None:
        new, old = await self._new_and_old(d, rss, create=False)
        scaled = False
        for i, rs in enumerate(old):
            if du.spec_replicas(rs) > 0:
                changed, old[i] = await self._scale_and_record(rs, 0, d)
                scaled = scaled or changed
        if scaled:
            return await self._sync_rollout_status(d, [*old, new], new)
        if self._old_pods_running(new, old):
            return await self._sync_rollout_status(d, [*old, new], new)
        if new is None:
            new, old = await self._new_and_old(d, rss, create=True)
        assert new is not None
        _, new = await self._scale_and_record(new, du.spec_replicas(d), d)
        if du.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        return await self._sync_rollout_status(d, [*old, new], new)

    def _old_pods_running(self, new: Obj | None, old: list[Obj]) -> bool:
        if du.actual_count(list(old)) > 0:
            return True
        old_uids = {rs["metadata"]["uid"] for rs in old}
        if new is not None:
            old_uids.discard(new["metadata"]["uid"])
        namespace = old[0]["metadata"]["namespace"] if old else ""
        for pod in self.pods.store.by_index(BY_NAMESPACE, namespace):
            ref = controller_ref(pod)
            if ref is None or ref.get("uid") not in old_uids:
                continue
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
        return False

    # -- history ------------------------------------------------------------------------------

    async def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        """Delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None or int(limit) == du.MAX_INT32:
            return
        alive = [rs for rs in old if not rs["metadata"].get("deletionTimestamp")]
        surplus = len(alive) - int(limit)
        if surplus <= 0:
            return
        alive.sort(key=lambda rs: (du.revision(rs), du.creation_key(rs)))
        for rs in alive[:surplus]:
            meta = rs["metadata"]
            if (
                du.status_int(rs, "replicas") != 0
                or du.spec_replicas(rs) != 0
                or int(meta.get("generation") or 0) > du.status_int(rs, "observedGeneration")
            ):
                continue
            try:
                await self.client.delete(REPLICASETS, name=meta["name"], namespace=meta["namespace"])
            except StatusError as exc:
                if exc.code != 404:
                    raise

    # -- status -------------------------------------------------------------------------------

    async def _check_paused_conditions(self, d: Obj) -> None:
        if not du.has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        cond = du.get_condition(status, du.PROGRESSING)
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return  # a timed-out rollout says so, paused or not
        paused_recorded = cond is not None and cond.get("reason") == du.PAUSED
        now = now_rfc3339()
        if d["spec"].get("paused") and not paused_recorded:
            new = du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED, "Deployment is paused", now)
        elif not d["spec"].get("paused") and paused_recorded:
            new = du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED, "Deployment is resumed", now)
        else:
            return
        du.set_condition(status, new)
        await self._update_status(d)

    async def _sync_status(self, d: Obj, all_rss: list[Obj | None], new: Obj | None) -> None:
        status = du.calculate_status(all_rss, new, d, now_rfc3339())
        if _same_status(d.get("status") or {}, status):
            return
        d["status"] = status
        await self._update_status(d)

    async def _sync_rollout_status(self, d: Obj, all_rss: list[Obj | None], new: Obj | None) -> float | None:
        now = now_rfc3339()
        status = du.calculate_status(all_rss, new, d, now)
        if not du.has_progress_deadline(d):
            du.remove_condition(status, du.PROGRESSING)
        current = du.get_condition(d.get("status") or {}, du.PROGRESSING)
        complete = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == du.NEW_RS_AVAILABLE
        )
        if du.has_progress_deadline(d) and not complete:
            rs_name = new["metadata"]["name"] if new is not None else None
            if du.deployment_complete(d, status):
                message = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" has successfully progressed.'
                )
                du.set_condition(
                    status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE, message, now)
                )
            elif du.deployment_progressing(d, status):
                message = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" is progressing.'
                )
                cond = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, message, now)
                # Progress moves lastUpdateTime even with the same reason; the transition time stays.
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(status, du.PROGRESSING)
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, time.time(), parse_time):
                message = (
                    f'ReplicaSet "{rs_name}" has timed out progressing.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" has timed out progressing.'
                )
                du.set_condition(
                    status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT, message, now)
                )
        failure = _replica_failure(all_rss, now)
        if failure is not None:
            du.set_condition(status, failure)
        else:
            du.remove_condition(status, du.REPLICA_FAILURE)
        if _same_status(d.get("status") or {}, status):
            return self._requeue_stuck(d, status)
        d["status"] = status
        await self._update_status(d)
        return None

    def _requeue_stuck(self, d: Obj, status: Obj) -> float | None:
        """Seconds until the progress deadline passes, so the timeout is noticed without any event."""
        cond = du.get_condition(status, du.PROGRESSING)
        if not du.has_progress_deadline(d) or cond is None:
            return None
        if du.deployment_complete(d, status) or cond.get("reason") == du.TIMED_OUT:
            return None
        since = parse_time(cond.get("lastUpdateTime"))
        if since is None:
            return None
        after = since + int(d["spec"]["progressDeadlineSeconds"]) - time.time()
        return 0.0 if after < 1 else after + 1


def _replace(new: Obj | None, old: list[Obj], stored: Obj) -> tuple[Obj | None, list[Obj]]:
    """Swap the freshly written ReplicaSet into (new, old)."""
    uid = stored["metadata"]["uid"]
    if new is not None and new["metadata"]["uid"] == uid:
        return stored, old
    return new, [stored if rs["metadata"]["uid"] == uid else rs for rs in old]


def _replica_failure(all_rss: list[Obj | None], now: str) -> Obj | None:
    for rs in all_rss:
        if rs is None:
            continue
        for cond in (rs.get("status") or {}).get("conditions") or []:
            if cond.get("type") == du.REPLICA_FAILURE and cond.get("status") == "True":
                return du.new_condition(
                    du.REPLICA_FAILURE, "True", cond.get("reason", ""), cond.get("message", ""), now
                )
    return None


def _same_status(a: Obj, b: Obj) -> bool:
    return a == b


def _namespace_terminating(exc: StatusError) -> bool:
    causes: list[dict[str, Any]] = (exc.details or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)
