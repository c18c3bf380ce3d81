"""ownerReferences: who controls an object, and adopting or releasing objects by selector.

A controller owns the objects whose ``ownerReferences`` hold an entry with
``controller: true`` and its uid.  Like upstream's ControllerRefManager,
:func:`claim` looks at every candidate in the owner's namespace and

- keeps the ones it controls that still match the selector,
- adopts orphans that match (unless the owner is being deleted), by a
  strategic-merge patch adding the reference, guarded by the object's uid
  so a re-created namesake is never adopted by mistake,
- releases the ones it controls that no longer match (a patch removing the
  reference), so another controller may adopt them.

Objects controlled by someone else are never touched.
"""

from __future__ import annotations

import logging
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.api.selectors import LabelSelector
from kubeling.client.paths import ResourceLike
from kubeling.client.rest import RESTClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def new_controller_ref(owner: Obj, *, api_version: str | None = None, kind: str | None = None) -> Obj:
    """An ownerReference naming ``owner`` as controller, blocking its foreground deletion."""
    return {
        "apiVersion": api_version or owner["apiVersion"],
        "kind": kind or owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def labels_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def is_being_deleted(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


async def claim(
    client: RESTClient,
    resource: ResourceLike,
    owner: Obj,
    selector: LabelSelector,
    candidates: list[Obj],
    *,
    owner_api_version: str | None = None,
    owner_kind: str | None = None,
) -> list[Obj]:
    """The candidates ``owner`` controls after adopting matching orphans and releasing the rest."""
    owner_uid = owner["metadata"]["uid"]
    claimed: list[Obj] = []
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selector.matches(labels_of(obj))
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue  # someone else's
            if matches or is_being_deleted(obj):
                claimed.append(obj)
            elif not is_being_deleted(owner):
                await _release(client, resource, obj, owner_uid)
            continue
        if not matches or is_being_deleted(obj) or is_being_deleted(owner):
            continue
        adopted = await _adopt(client, resource, obj, owner, owner_api_version, owner_kind)
        if adopted is not None:
            claimed.append(adopted)
    return claimed


async def _adopt(
    client: RESTClient,
    resource: ResourceLike,
    obj: Obj,
    owner: Obj,
    api_version: str | None,
    kind: str | None,
) -> Obj | None:
    meta = obj["metadata"]
    patch = {
        "metadata": {
            "ownerReferences": [new_controller_ref(owner, api_version=api_version, kind=kind)],
            "uid": meta["uid"],
        }
    }
    try:
        return await client.patch(
            resource, patch, name=meta["name"], namespace=meta.get("namespace"), patch_type="strategic"
        )
    except StatusError as exc:
        if exc.code in (404, 409, 422):
            return None  # gone, replaced by a namesake, or adopted by another owner meanwhile
        raise


async def _release(client: RESTClient, resource: ResourceLike, obj: Obj, owner_uid: str) -> None:
    meta = obj["metadata"]
    patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": meta["uid"]}}
    try:
        await client.patch(
            resource, patch, name=meta["name"], namespace=meta.get("namespace"), patch_type="strategic"
        )
    except StatusError as exc:
        if exc.code not in (404, 409, 422):
            raise
