"""persistentVolumeClaim volumes: the claim's bound PersistentVolume, used in place.

Generic ephemeral volumes resolve the same way, through the claim
``<pod>-<volume>`` their controller makes, which the pod must control.
The claim must be Bound to a PV whose claimRef points back at it (uid too);
messages follow upstream's volume manager.  hostPath PVs get the hostPath
type check; local PVs must exist (upstream bind-mounts them under
``kubernetes.io~local-volume``; here the path itself is mounted, which the
container sees the same).  Any other PV source is ``unsupported volume type``.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubeling.kubelet.volumeplugins import hostpath
from kubeling.kubelet.volumeplugins.base import Obj, ObjectReader, VolumeError

_NON_SOURCE_FIELDS = {
    "accessModes",
    "capacity",
    "claimRef",
    "mountOptions",
    "nodeAffinity",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "volumeMode",
    "volumeAttributesClassName",
}


def ephemeral_claim_name(pod: Obj, volume_name: str) -> str:
    """The PVC a generic ephemeral volume uses: ``<pod name>-<volume name>``, made by its controller."""
    return f"{pod['metadata'].get('name', '')}-{volume_name}"


def _controlled_by(claim: Obj, pod: Obj) -> bool:
    uid = pod["metadata"].get("uid")
    refs = (claim.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == uid for ref in refs)


def pv_path(pv: Obj) -> Path:
    """The node path a hostPath or local PV stands for (type-checked), else VolumeError."""
    spec = pv.get("spec") or {}
    name = (pv.get("metadata") or {}).get("name", "")
    if "hostPath" in spec:
        return hostpath.setup(spec["hostPath"] or {})
    if "local" in spec:
        path = (spec["local"] or {}).get("path", "")
        if not os.path.exists(path):
            raise VolumeError(f'path "{path}" does not exist')
        return Path(path)
    kinds = sorted(set(spec) - _NON_SOURCE_FIELDS) or ["none"]
    raise VolumeError(f'unsupported volume type: PersistentVolume "{name}" has source {", ".join(kinds)}')


async def resolve(reader: ObjectReader, namespace: str, source: Obj, *, owner: Obj | None = None) -> Path:
    """The path of the claim's PV; ``owner`` (a pod) must control the claim (generic ephemeral volumes)."""
    claim_name = source.get("claimName", "")
    claim = await reader.pvc(namespace, claim_name)
    if claim is None:
        raise VolumeError(f'persistentvolumeclaim "{claim_name}" not found')
    if owner is not None and not _controlled_by(claim, owner):
        raise VolumeError(
            f"PVC {namespace}/{claim_name} was not created for pod "
            f"{namespace}/{owner['metadata'].get('name', '')} (pod is not owner)"
        )
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        raise VolumeError(f"can't start pod because PVC {namespace}/{claim_name} is being deleted")
    volume_name = (claim.get("spec") or {}).get("volumeName") or ""
    phase = (claim.get("status") or {}).get("phase") or ""
    if phase != "Bound" or not volume_name:
        raise VolumeError(
            f'PVC {namespace}/{claim_name} has non-bound phase ("{phase}") '
            f'or empty pvc.Spec.VolumeName ("{volume_name}")'
        )
    pv = await reader.pv(volume_name)
    if pv is None:
        raise VolumeError(
            f'failed to fetch PV {volume_name} from API server: persistentvolume "{volume_name}" not found'
        )
    claim_ref = (pv.get("spec") or {}).get("claimRef")
    if not claim_ref:
        raise VolumeError(
            f"found PV object {volume_name} but it has a nil pv.Spec.ClaimRef "
            "indicating it is not yet bound to the claim"
        )
    claim_uid = claim["metadata"].get("uid", "")
    if claim_ref.get("uid") != claim_uid:
        raise VolumeError(
            f"found PV object {volume_name} but its pv.Spec.ClaimRef.UID ({claim_ref.get('uid')}) "
            f"does not point to claim.UID ({claim_uid})"
        )
    return pv_path(pv)
