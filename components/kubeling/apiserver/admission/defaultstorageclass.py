"""DefaultStorageClass: claims that name no class get the cluster's default.

On PVC CREATE, a claim with neither ``spec.storageClassName`` (an explicit
``""`` counts as a choice: "no class") nor the beta storage-class annotation
gets the StorageClass annotated ``storageclass.kubernetes.io/is-default-class:
"true"`` (or the beta annotation).  With several defaults the newest wins,
ties broken by name; with none the claim is left alone.
"""

from __future__ import annotations

from datetime import datetime

from kubeling.apiserver.admission.interface import CREATE, Attributes, Lister
from kubeling.apiserver.admission.quotausage import BETA_STORAGE_CLASS_ANNOTATION

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _is_default(storage_class: dict) -> bool:
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def _created(storage_class: dict) -> float:
    text = (storage_class.get("metadata") or {}).get("creationTimestamp") or ""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def default_class(storage_classes: list[dict]) -> str | None:
    defaults = [sc for sc in storage_classes if _is_default(sc)]
    if not defaults:
        return None
    newest = min(defaults, key=lambda sc: (-_created(sc), (sc.get("metadata") or {}).get("name", "")))
    return newest["metadata"]["name"]


class DefaultStorageClass:
    name = "DefaultStorageClass"

    def __init__(self, lister: Lister) -> None:
        self._lister = lister

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group or resource.plural != "persistentvolumeclaims":
            return
        if attrs.subresource or attrs.operation != CREATE:
            return
        spec = obj.setdefault("spec", {})
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if spec.get("storageClassName") is not None or BETA_STORAGE_CLASS_ANNOTATION in annotations:
            return  # the user asked for a class (or explicitly for none)
        chosen = default_class(self._lister.list("storage.k8s.io", "storageclasses"))
        if chosen is not None:
            spec["storageClassName"] = chosen
