"""Field-level concerns of writes: unknown fields and managedFields.

``fieldValidation`` decides what an unknown field costs (Strict: 400,
Warn: a Warning header, Ignore: nothing); every write records which manager
set which fields, and server-side apply merges by those records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubeling.api import errors, fieldmanager, schemas, validation
from kubeling.api.fieldmanager.updater import tracked_managed_fields
from kubeling.api.resources import Resource
from kubeling.apiserver.objects import Obj

if TYPE_CHECKING:
    from kubeling.apiserver.store import WriteContext

_MODES = ("", "Strict", "Warn", "Ignore")


def schema_of(resource: Resource) -> dict[str, Any] | None:
    if resource.crd is not None:
        for version in (resource.crd.get("spec") or {}).get("versions") or []:
            if version.get("name") == resource.version:
                return ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        return None
    return schemas.by_name(resource.schema_name) if resource.schema_name else None


def check_unknown(resource: Resource, body: Obj, mode: str, warnings: list[str]) -> bool:
    """Apply ``fieldValidation``; True when the body is known to hold only schema fields."""
    if mode not in _MODES:
        raise errors.bad_request(f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not "{mode}"')
    if mode == "Ignore":
        return False
    unknown = validation.unknown_fields(resource, body)
    if not unknown:
        return True
    messages = [f'unknown field "{path.lstrip(".")}"' for path in unknown]
    if mode == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(messages))
    warnings.extend(messages)
    return False


def track(resource: Resource, old: Obj | None, new: Obj, ctx: WriteContext, now: str) -> None:
    """Record ``ctx.field_manager`` as the owner of what this write changed."""
    if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
        return
    managed_fields = tracked_managed_fields(
        old,
        new,
        manager=ctx.field_manager,
        schema=schema_of(resource),
        api_version=resource.api_version,
        now=now,
        subresource=ctx.subresource if ctx.subresource in ("status", "scale") else "",
    )
    if managed_fields:
        new["metadata"]["managedFields"] = managed_fields
    else:
        new["metadata"].pop("managedFields", None)


def apply(resource: Resource, current: Obj, config: Obj, ctx: WriteContext, force: bool, now: str) -> Obj:
    """Server-side apply of ``config`` by ``ctx.field_manager`` onto ``current``."""
    api_version = config.get("apiVersion")
    kind = config.get("kind")
    if api_version != resource.api_version or kind != resource.kind:
        raise errors.bad_request(
            f"the apply configuration must set apiVersion {resource.api_version!r} and kind {resource.kind!r}"
        )
    meta = config.get("metadata") or {}
    name = current["metadata"].get("name")
    if meta.get("name") and meta["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    live = current if current["metadata"].get("uid") else None
    result = fieldmanager.apply(
        live,
        config,
        manager=ctx.field_manager,
        schema=schema_of(resource),
        force=force,
        api_version=resource.api_version,
        now=now,
    )
    result.setdefault("metadata", {})
    result["metadata"]["name"] = name
    if resource.namespaced:
        result["metadata"]["namespace"] = current["metadata"].get("namespace")
    # Apply never carries a precondition unless the config names one.
    result["metadata"]["resourceVersion"] = meta.get("resourceVersion", "")
    return result
