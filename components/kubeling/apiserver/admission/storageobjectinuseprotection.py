"""StorageObjectInUseProtection: claims and volumes are created with a protection finalizer.

On CREATE a PersistentVolumeClaim gets ``kubernetes.io/pvc-protection`` and a
PersistentVolume ``kubernetes.io/pv-protection`` (once).  The PV binder
controller removes them when deletion is safe: no pod uses the claim, the
volume is no longer Bound.
"""

from __future__ import annotations

from kubeling.apiserver.admission.interface import CREATE, Attributes

FINALIZERS = {
    "persistentvolumeclaims": "kubernetes.io/pvc-protection",
    "persistentvolumes": "kubernetes.io/pv-protection",
}


class StorageObjectInUseProtection:
    name = "StorageObjectInUseProtection"

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        finalizer = FINALIZERS.get(resource.plural) if not resource.group else None
        if finalizer is None or attrs.subresource or attrs.operation != CREATE:
            return
        metadata = obj.setdefault("metadata", {})
        finalizers = list(metadata.get("finalizers") or [])
        if finalizer not in finalizers:
            metadata["finalizers"] = [*finalizers, finalizer]
