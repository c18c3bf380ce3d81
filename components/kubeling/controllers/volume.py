"""The PersistentVolume binder: claims meet volumes, volumes go back when released.

One controller, two kinds of keys (``claim:<ns>/<name>``, ``volume:<name>``),
as upstream's persistentvolume-binder-controller, plus the two protection
loops upstream runs separately (pvc-protection, pv-protection).

Claims (``_sync_claim``):

- A claim not yet bound looks for the *smallest* PersistentVolume that fits
  (:func:`find_best_volume`: same storageClassName, access modes covered,
  capacity at least the request, selector, volumeMode, node affinity of the
  selected node); a volume pre-bound to the claim (``claimRef``) wins.  The
  volume is written first (``claimRef``, ``pv.kubernetes.io/bound-by-controller``),
  so two claims racing for one volume meet a 409, then the claim
  (``volumeName``, ``pv.kubernetes.io/bind-completed``) and both statuses.
- None fits: a class with provisioner ``kubeling.io/hostpath`` gets a
  provisioned hostPath volume ``/var/lib/kubeling/volumes/<pv>``
  (ProvisioningSucceeded), pre-bound to the claim; another provisioner is left
  to its external provisioner; no class at all is a FailedBinding event.
- ``volumeBindingMode: WaitForFirstConsumer``: nothing happens until the
  claim has ``volume.kubernetes.io/selected-node`` or a pod using it has a
  ``spec.nodeName`` (which then becomes the selected node).
- A bound claim whose volume vanished or was taken is ``Lost``.

Volumes (``_sync_volume``): no claimRef → ``Available``; bound to a live
claim → ``Bound``; the claim gone (or recreated) → ``Released`` and the
reclaim policy runs: ``Retain`` keeps it, ``Delete`` deletes the PV object
(no data is touched: no side effects outside the API), ``Recycle`` → Failed.

Protection: a claim being deleted keeps ``kubernetes.io/pvc-protection`` while
a non-terminal pod uses it; a volume being deleted keeps
``kubernetes.io/pv-protection`` while it is Bound.  The finalizers are added at
create by the StorageObjectInUseProtection admission plugin.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import label_selector_from_dict
from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.client.store import Obj, key_of
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.resources import (
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    STORAGECLASSES,
)
from kubeling.scheduler.matching import node_selector_terms_match

log = logging.getLogger(__name__)

BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
HOSTPATH_PROVISIONER = "kubeling.io/hostpath"
HOSTPATH_ROOT = "/var/lib/kubeling/volumes"
HOSTNAME_LABEL = "kubernetes.io/hostname"

BY_CLAIM = "volumes-by-claim"  # PVs by claimRef namespace/name
CLAIMS_OF_POD = "pods-by-claim"  # pods by the namespace/name of each claim they use
PENDING_RESYNC = 15.0  # upstream's --pvclaimbinder-sync-period


# -- pure helpers ----------------------------------------------------------------


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def claim_class(claim: Obj) -> str:
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS in annotations:
        return annotations[BETA_STORAGE_CLASS]
    return (claim.get("spec") or {}).get("storageClassName") or ""


def volume_class(volume: Obj) -> str:
    annotations = (volume.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS in annotations:
        return annotations[BETA_STORAGE_CLASS]
    return (volume.get("spec") or {}).get("storageClassName") or ""


def claim_key(claim: Obj) -> str:
    return key_of(claim)


def claim_ref_key(volume: Obj) -> str | None:
    ref = (volume.get("spec") or {}).get("claimRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    return f"{ref.get('namespace', '')}/{ref['name']}"


def volume_index(volume: Obj) -> list[str]:
    key = claim_ref_key(volume)
    return [key] if key else []


def claims_of_pod(pod: Obj) -> list[str]:
    """``namespace/claim`` for each claim a pod mounts (generic ephemeral volumes included)."""
    meta = pod.get("metadata") or {}
    namespace, pod_name = meta.get("namespace", ""), meta.get("name", "")
    out = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
            out.append(f"{namespace}/{volume['persistentVolumeClaim']['claimName']}")
        elif volume.get("ephemeral") is not None:
            out.append(f"{namespace}/{pod_name}-{volume.get('name', '')}")
    return out


def pod_is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _prebound_to(volume: Obj, claim: Obj) -> bool:
    ref = (volume.get("spec") or {}).get("claimRef")
    meta = claim["metadata"]
    if not isinstance(ref, dict):
        return False
    if ref.get("name") != meta["name"] or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def volume_fits(volume: Obj, claim: Obj, node: Obj | None = None) -> bool:
    """Whether ``volume`` can serve ``claim`` (ignoring whether it is free)."""
    vspec, cspec = volume.get("spec") or {}, claim.get("spec") or {}
    if volume_class(volume) != claim_class(claim):
        return False
    if not set(cspec.get("accessModes") or []) <= set(vspec.get("accessModes") or []):
        return False
    if (vspec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return False
    capacity = _quantity((vspec.get("capacity") or {}).get("storage"))
    request = _quantity(((cspec.get("resources") or {}).get("requests") or {}).get("storage"))
    if capacity is None or request is None or capacity < request:
        return False
    selector = cspec.get("selector")
    if selector is not None:
        labels = (volume.get("metadata") or {}).get("labels") or {}
        if not label_selector_from_dict(selector).matches(labels):
            return False
    terms = (((vspec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")) or []
    if terms and node is not None:
        node_meta = node.get("metadata") or {}
        if not node_selector_terms_match(terms, node_meta.get("name", ""), node_meta.get("labels") or {}):
            return False
    return True


def find_best_volume(claim: Obj, volumes: list[Obj], node: Obj | None = None) -> Obj | None:
    """The volume to bind: one pre-bound to the claim, else the smallest free one that fits."""
    best: Obj | None = None
    best_size: Decimal | None = None
    for volume in volumes:
        meta, spec = volume.get("metadata") or {}, volume.get("spec") or {}
        if meta.get("deletionTimestamp") or (volume.get("status") or {}).get("phase") in (
            "Released",
            "Failed",
        ):
            continue
        prebound = _prebound_to(volume, claim)
        if spec.get("claimRef") and not prebound:
            continue
        if not volume_fits(volume, claim, node):
            continue
        if prebound:
            return volume
        size = _quantity(spec["capacity"]["storage"])
        if best_size is None or (size is not None and size < best_size):
            best, best_size = volume, size
    return best


def claim_reference(claim: Obj) -> dict[str, str]:
    meta = claim["metadata"]
    return {
        "kind": "PersistentVolumeClaim",
        "apiVersion": "v1",
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }


def provisioned_volume(claim: Obj, storage_class: Obj, node_name: str | None) -> Obj:
    """The hostPath PV the lab provisioner makes for ``claim``, pre-bound to it."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    name = f"pvc-{meta['uid']}"
    pv_spec: dict[str, Any] = {
        "capacity": {"storage": spec["resources"]["requests"]["storage"]},
        "accessModes": list(spec.get("accessModes") or []),
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
        "storageClassName": storage_class["metadata"]["name"],
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "claimRef": claim_reference(claim),
        "hostPath": {"path": f"{HOSTPATH_ROOT}/{name}", "type": "DirectoryOrCreate"},
    }
    if storage_class.get("mountOptions"):
        pv_spec["mountOptions"] = list(storage_class["mountOptions"])
    if node_name:
        # The directory lives on one node: pods using it must go there.
        term = {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [node_name]}]}
        pv_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": {PROVISIONED_BY: HOSTPATH_PROVISIONER, BOUND_BY_CONTROLLER: "yes"},
            "finalizers": [PV_PROTECTION],
        },
        "spec": pv_spec,
    }


def bound_claim_status(claim: Obj, volume: Obj) -> dict[str, Any]:
    status = dict(claim.get("status") or {})
    vspec = volume.get("spec") or {}
    status.update(
        phase="Bound",
        accessModes=list(vspec.get("accessModes") or []),
        capacity=dict(vspec.get("capacity") or {}),
    )
    return status


# -- the controller ----------------------------------------------------------------


class PersistentVolumeBinder(Controller):
    name = "persistentvolume-binder-controller"
    service_account = "persistent-volume-binder"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        self.claims.add_event_handler(
            on_add=self._claim_changed,
            on_update=lambda _old, new: self._claim_changed(new),
            on_delete=self._claim_deleted,
        )
        self.volumes = self.informer(PERSISTENTVOLUMES, indexers={BY_CLAIM: volume_index})
        self.volumes.add_event_handler(
            on_add=self._volume_changed,
            on_update=lambda _old, new: self._volume_changed(new),
            on_delete=self._volume_changed,
        )
        self.pods = self.informer(PODS, indexers={CLAIMS_OF_POD: claims_of_pod})
        self.pods.add_event_handler(
            on_add=self._pod_changed,
            on_update=lambda _old, new: self._pod_changed(new),
            on_delete=self._pod_changed,
        )
        self.classes = self.informer(STORAGECLASSES)
        self.classes.add_event_handler(
            on_add=self._class_changed, on_update=lambda _o, n: self._class_changed(n)
        )
        self.nodes = self.informer(NODES)

    # -- handlers ----------------------------------------------------------------

    def _claim_changed(self, claim: Obj) -> None:
        self.queue.add("claim:" + claim_key(claim))

    def _claim_deleted(self, claim: Obj) -> None:
        for volume in self.volumes.store.by_index(BY_CLAIM, claim_key(claim)):
            self.queue.add("volume:" + volume["metadata"]["name"])

    def _volume_changed(self, volume: Obj) -> None:
        self.queue.add("volume:" + volume["metadata"]["name"])
        ref = claim_ref_key(volume)
        if ref:
            self.queue.add("claim:" + ref)
        if not (volume.get("spec") or {}).get("claimRef"):
            self._enqueue_pending(lambda claim: claim_class(claim) == volume_class(volume))

    def _pod_changed(self, pod: Obj) -> None:
        for key in claims_of_pod(pod):
            self.queue.add("claim:" + key)

    def _class_changed(self, storage_class: Obj) -> None:
        name = storage_class["metadata"]["name"]
        self._enqueue_pending(lambda claim: claim_class(claim) == name)

    def _enqueue_pending(self, wanted: Any) -> None:
        for claim in self.claims.store.list():
            if not (claim.get("spec") or {}).get("volumeName") and wanted(claim):
                self.queue.add("claim:" + claim_key(claim))

    # -- dispatch ------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition(":")
        if kind == "claim":
            claim = self.claims.store.get(rest)
            return await self._sync_claim(claim) if claim is not None else None
        volume = self.volumes.store.get(rest)
        if volume is not None:
            await self._sync_volume(volume)
        return None

    # -- claims ----------------------------------------------------------------------

    async def _sync_claim(self, claim: Obj) -> float | None:
        meta = claim["metadata"]
        if meta.get("deletionTimestamp"):
            await self._release_claim_protection(claim)
            return None
        annotations = meta.get("annotations") or {}
        volume_name = (claim.get("spec") or {}).get("volumeName") or ""
        if annotations.get(BIND_COMPLETED) != "yes" and not volume_name:
            return await self._bind_unbound(claim)
        volume = self.volumes.store.get(volume_name) if volume_name else None
        if volume is None:
            if volume_name and annotations.get(BIND_COMPLETED) != "yes":
                return PENDING_RESYNC  # pre-bound by the user to a volume that doesn't exist yet
            await self._lose(
                claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
            )
            return None
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref:
            volume = await self._bind_volume(volume, claim)
        elif not _prebound_to(volume, claim):
            if annotations.get(BIND_COMPLETED) == "yes":
                await self._lose(
                    claim,
                    "ClaimMisbound",
                    "Two claims are bound to the same volume, this one is bound incorrectly",
                )
            else:
                self.recorder.event(
                    claim,
                    "Warning",
                    "FailedBinding",
                    f'volume "{volume_name}" already bound to a different claim.',
                )
            return None
        elif ref.get("uid") != meta.get("uid"):
            volume = await self._bind_volume(volume, claim)
        await self._finish_claim(claim, volume, by_controller=False)
        return None

    def _selected_node(self, claim: Obj) -> str | None:
        annotations = (claim["metadata"].get("annotations")) or {}
        if annotations.get(SELECTED_NODE):
            return annotations[SELECTED_NODE]
        for pod in self.pods.store.by_index(CLAIMS_OF_POD, claim_key(claim)):
            node = (pod.get("spec") or {}).get("nodeName")
            if node and not pod_is_terminal(pod):
                return node
        return None

    async def _bind_unbound(self, claim: Obj) -> float | None:
        class_name = claim_class(claim)
        storage_class = self.classes.store.get(class_name) if class_name else None
        node_name: str | None = None
        if storage_class is not None and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
            node_name = self._selected_node(claim)
            if node_name is None:
                self.recorder.event(
                    claim,
                    "Normal",
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                )
                return None
        node = self.nodes.store.get(node_name) if node_name else None
        volume = find_best_volume(claim, self.volumes.store.list(), node)
        if volume is not None:
            volume = await self._bind_volume(volume, claim)
            await self._finish_claim(claim, volume, by_controller=True)
            return None
        if not class_name:
            self.recorder.event(
                claim,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
            return PENDING_RESYNC
        if storage_class is None:
            self.recorder.event(
                claim,
                "Warning",
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{class_name}" not found',
            )
            return PENDING_RESYNC
        await self._provision(claim, storage_class, node_name)
        return PENDING_RESYNC

    async def _provision(self, claim: Obj, storage_class: Obj, node_name: str | None) -> None:
        provisioner = storage_class.get("provisioner") or ""
        meta = claim["metadata"]
        annotations = dict(meta.get("annotations") or {})
        wanted = {STORAGE_PROVISIONER: provisioner, BETA_STORAGE_PROVISIONER: provisioner}
        if node_name and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
            wanted[SELECTED_NODE] = node_name
        if any(annotations.get(k) != v for k, v in wanted.items()):
            annotations.update(wanted)
            claim = await self.client.update(
                PERSISTENTVOLUMECLAIMS, {**claim, "metadata": {**meta, "annotations": annotations}},
                namespace=meta["namespace"],
            )  # fmt: skip
        if provisioner != HOSTPATH_PROVISIONER:
            self.recorder.event(
                claim,
                "Normal",
                "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or "
                "manually by the system administrator. If volume creation is delayed, please verify that the "
                "provisioner is running and correctly registered.",
            )
            return
        if (claim.get("spec") or {}).get("selector") is not None:
            self.recorder.event(claim, "Warning", "ProvisioningFailed", "claim Selector is not supported")
            return
        volume = provisioned_volume(claim, storage_class, node_name)
        try:
            await self.client.create(PERSISTENTVOLUMES, volume)
        except StatusError as exc:
            if exc.code != 409:  # 409: made on an earlier pass
                raise
            return
        self.recorder.event(
            claim,
            "Normal",
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume['metadata']['name']} using {HOSTPATH_PROVISIONER}",
        )

    async def _bind_volume(self, volume: Obj, claim: Obj) -> Obj:
        """Point the volume at the claim (guarded by its resourceVersion) and mark it Bound."""
        spec = volume.get("spec") or {}
        meta = volume["metadata"]
        ref = spec.get("claimRef") or {}
        if ref.get("uid") != claim["metadata"].get("uid") or ref.get("name") != claim["metadata"]["name"]:
            annotations = dict(meta.get("annotations") or {})
            if not _prebound_to(volume, claim):
                annotations[BOUND_BY_CONTROLLER] = "yes"
            body = {
                **volume,
                "metadata": {**meta, "annotations": annotations},
                "spec": {**spec, "claimRef": claim_reference(claim)},
            }
            volume = await self.client.update(PERSISTENTVOLUMES, body)
        if (volume.get("status") or {}).get("phase") != "Bound":
            volume = await self._volume_phase(volume, "Bound")
        return volume

    async def _finish_claim(self, claim: Obj, volume: Obj, *, by_controller: bool) -> None:
        meta = claim["metadata"]
        namespace = meta["namespace"]
        annotations = dict(meta.get("annotations") or {})
        spec = claim.get("spec") or {}
        changed = (
            spec.get("volumeName") != volume["metadata"]["name"] or annotations.get(BIND_COMPLETED) != "yes"
        )
        if changed:
            annotations[BIND_COMPLETED] = "yes"
            if by_controller and not spec.get("volumeName"):
                annotations[BOUND_BY_CONTROLLER] = "yes"
            body = {
                **claim,
                "metadata": {**meta, "annotations": annotations},
                "spec": {**spec, "volumeName": volume["metadata"]["name"]},
            }
            claim = await self.client.update(PERSISTENTVOLUMECLAIMS, body, namespace=namespace)
        status = bound_claim_status(claim, volume)
        if status != (claim.get("status") or {}):
            await self.client.update(
                PERSISTENTVOLUMECLAIMS, {**claim, "status": status}, namespace=namespace, subresource="status"
            )

    async def _lose(self, claim: Obj, reason: str, message: str) -> None:
        if (claim.get("status") or {}).get("phase") == "Lost":
            return
        self.recorder.event(claim, "Warning", reason, message)
        status = {**(claim.get("status") or {}), "phase": "Lost"}
        await self.client.update(
            PERSISTENTVOLUMECLAIMS, {**claim, "status": status}, namespace=claim["metadata"]["namespace"],
            subresource="status",
        )  # fmt: skip

    async def _release_claim_protection(self, claim: Obj) -> None:
        meta = claim["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if PVC_PROTECTION not in finalizers:
            return
        users = [
            p for p in self.pods.store.by_index(CLAIMS_OF_POD, claim_key(claim)) if not pod_is_terminal(p)
        ]
        if users:
            return  # a pod's update or delete brings the claim back
        # Ask the API too: the pod cache may not have seen a pod created a moment ago.
        live = await self.client.list(PODS, namespace=meta["namespace"])
        if any(
            claim_key(claim) in claims_of_pod(p) and not pod_is_terminal(p) for p in live.get("items") or []
        ):
            return
        finalizers.remove(PVC_PROTECTION)
        body = {**claim, "metadata": {**meta, "finalizers": finalizers}}
        try:
            await self.client.update(PERSISTENTVOLUMECLAIMS, body, namespace=meta["namespace"])
        except StatusError as exc:
            if exc.code != 404:
                raise

    # -- volumes ---------------------------------------------------------------------

    async def _volume_phase(self, volume: Obj, phase: str, message: str = "") -> Obj:
        status: dict[str, Any] = {**(volume.get("status") or {}), "phase": phase}
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        return await self.client.update(PERSISTENTVOLUMES, {**volume, "status": status}, subresource="status")

    async def _claim_for(self, ref_key: str) -> Obj | None:
        claim = self.claims.store.get(ref_key)
        if claim is not None:
            return claim
        namespace, name = split_key(ref_key)
        try:  # not in the cache: make sure before releasing anything
            return await self.client.get(PERSISTENTVOLUMECLAIMS, name=name, namespace=namespace)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def _sync_volume(self, volume: Obj) -> None:
        settled = await self._settle_volume(volume)
        if settled is not None and settled["metadata"].get("deletionTimestamp"):
            await self._release_volume_protection(settled)

    async def _settle_volume(self, volume: Obj) -> Obj | None:
        """Phase and reclaim for the volume's claim; returns the volume as written (None if deleted)."""
        meta, spec = volume["metadata"], volume.get("spec") or {}
        phase = (volume.get("status") or {}).get("phase")
        ref = spec.get("claimRef")
        if not ref:
            return volume if phase == "Available" else await self._volume_phase(volume, "Available")
        ref_key = claim_ref_key(volume) or ""
        claim = await self._claim_for(ref_key)
        if claim is not None and (not ref.get("uid") or ref.get("uid") == claim["metadata"].get("uid")):
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if volume_name == meta["name"]:
                return volume if phase == "Bound" else await self._volume_phase(volume, "Bound")
            if not volume_name:
                self.queue.add("claim:" + ref_key)  # the claim's sync binds them
                if phase in ("Available", "Bound"):
                    return volume
                return await self._volume_phase(volume, "Available")
            if (meta.get("annotations") or {}).get(BOUND_BY_CONTROLLER) == "yes":
                return await self._unbind(volume)  # the claim went to another volume: free this one
            return volume
        if not ref.get("uid"):  # pre-bound to a claim that doesn't exist yet
            return volume if phase == "Available" else await self._volume_phase(volume, "Available")
        return await self._reclaim(volume)

    async def _unbind(self, volume: Obj) -> Obj:
        meta = volume["metadata"]
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != BOUND_BY_CONTROLLER}
        spec = {k: v for k, v in (volume.get("spec") or {}).items() if k != "claimRef"}
        updated = await self.client.update(
            PERSISTENTVOLUMES, {**volume, "metadata": {**meta, "annotations": annotations}, "spec": spec}
        )
        return await self._volume_phase(updated, "Available")

    async def _reclaim(self, volume: Obj) -> Obj | None:
        phase = (volume.get("status") or {}).get("phase")
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        if phase not in ("Released", "Failed"):
            volume = await self._volume_phase(volume, "Released")
            phase = "Released"
        if policy == "Delete" and phase == "Released":
            meta = volume["metadata"]
            try:
                await self.client.delete(
                    PERSISTENTVOLUMES, name=meta["name"], preconditions={"uid": meta["uid"]}
                )
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
                return None
            # Held by pv-protection it stays, marked for deletion: a later sync lets it go.
            return await self._get_volume(meta["name"])
        if policy == "Recycle" and phase == "Released":
            message = "Recycle is not supported by kubeling: use dynamic provisioning"
            self.recorder.event(volume, "Warning", "VolumeFailedRecycle", message)
            return await self._volume_phase(volume, "Failed", message)
        return volume

    async def _get_volume(self, name: str) -> Obj | None:
        try:
            return await self.client.get(PERSISTENTVOLUMES, name=name)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def _release_volume_protection(self, volume: Obj) -> None:
        meta = volume["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if PV_PROTECTION not in finalizers or (volume.get("status") or {}).get("phase") == "Bound":
            return
        finalizers.remove(PV_PROTECTION)
        try:
            await self.client.update(
                PERSISTENTVOLUMES, {**volume, "metadata": {**meta, "finalizers": finalizers}}
            )
        except StatusError as exc:
            if exc.code != 404:
                raise
