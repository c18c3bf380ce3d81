"""Server-side apply and managedFields bookkeeping for ordinary writes.

Two entry points, both pure (JSON dicts in, a new JSON dict out):

* :func:`apply` — the configuration is the *whole intent* of one manager.
  It is merged over the live object; fields that manager set last time and no
  longer sets are pruned unless someone else owns them; then every field the
  request changes is checked against the other managers' sets.  Changing a
  field someone else owns is a conflict (409) unless ``force`` takes it over;
  setting it to the value it already has makes the ownership shared.
* :func:`track_update` — a create, update or patch: whatever changed moves to
  the writing manager (operation ``Update``), out of everyone else's sets.

Ownership bookkeeping follows upstream's structured-merge-diff: comparisons
give added / modified / removed paths; removed paths leave every set; changed
paths leave the other managers' sets.  The metadata fields the server owns
(name, uid, resourceVersion, ...) are never recorded.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import orjson

from kubeling.api import errors, schemas
from kubeling.api.fieldmanager import fieldpath, managed, typed
from kubeling.api.fieldmanager.fieldpath import FieldSet, Path
from kubeling.api.fieldmanager.managed import APPLY, STRIPPED, UPDATE, Entry, Identity
from kubeling.api.fieldmanager.typed import Comparison, Schema

BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
MAX_UPDATE_MANAGERS = 10

Object = dict[str, Any]


# -- public API ---------------------------------------------------------------


def apply(
    live: Object | None,
    config: Object,
    *,
    manager: str,
    schema: Schema,
    force: bool,
    api_version: str,
    now: str,
    subresource: str = "",
) -> Object:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not exist yet).

    Raises a 409 Conflict StatusError listing the fields other managers own,
    or 400 BadRequest for a configuration that cannot be tracked.
    """
    root = root_schema(schema)
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and config_meta.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    try:
        config_set = typed.to_field_set(config, root, strict=True)
    except typed.InvalidValue as exc:
        gvk = _gvk(config, api_version)
        raise errors.bad_request(f"failed to create typed patch object ({gvk}): {exc}") from None

    live_body, raw = _split(live) if live is not None else ({}, None)
    entries = _decode_or_empty(raw)
    if live is not None and not entries:
        # An object nobody tracked yet: what exists is attributed to an updater,
        # so the first applier cannot silently take (or prune) it.
        entries = _record_update(
            entries, {}, live_body, root, managed.identity(BEFORE_FIRST_APPLY, UPDATE, api_version), now
        )

    me = managed.identity(manager, APPLY, api_version, subresource)
    last = entries.get(me)
    proposed = dict(entries)
    proposed[me] = Entry(manager, APPLY, api_version, config_set, last.time if last else None, subresource)

    merged = typed.merge(live_body, config, root)
    if last is not None and not last.fields.empty():
        merged = _prune(merged, proposed, last.fields, root)

    comparison = typed.compare(live_body, merged, root)
    result = _take_over(proposed, comparison, owner=me, force=force)
    result = {ident: replace(e, fields=e.fields.difference(STRIPPED)) for ident, e in result.items()}
    if last is None or not comparison.empty():
        result[me].time = now
    return _with_managed(merged, result.values())


def track_update(
    old: Object | None,
    new: Object,
    *,
    manager: str,
    schema: Schema,
    api_version: str,
    now: str,
    subresource: str = "",
) -> Object:
    """``new`` with managedFields recording that ``manager`` wrote what changed since ``old``.

    ``old`` is None on create (every field set is new).  The managedFields the
    client sent decide the starting point: none (or ``[]``) keeps the stored
    ones, ``[{}]`` clears them, anything else valid replaces them — except on a
    subresource, where clients cannot rewrite them.
    """
    new_body, encoded = _tracked(old, new, manager, schema, api_version, now, subresource)
    out = _clone(new_body)
    meta = out.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    return out


def tracked_managed_fields(
    old: Object | None,
    new: Object,
    *,
    manager: str,
    schema: Schema,
    api_version: str,
    now: str,
    subresource: str = "",
) -> list[dict[str, Any]]:
    """The ``metadata.managedFields`` :func:`track_update` would give ``new`` ([] for none).

    For callers that keep ``new`` and only need its managedFields: it spares
    the copy of the whole object.
    """
    return _tracked(old, new, manager, schema, api_version, now, subresource)[1]


def _tracked(
    old: Object | None,
    new: Object,
    manager: str,
    schema: Schema,
    api_version: str,
    now: str,
    subresource: str,
) -> tuple[Object, list[dict[str, Any]]]:
    """(new without managedFields, its encoded managedFields after the write)."""
    new, reset = remove_managed_fields_if_reset(new)
    new_body, new_raw = _split(new)
    if reset:
        return new_body, []
    root = root_schema(schema)
    ident = managed.identity(manager, UPDATE, api_version, subresource)

    entries: dict[Identity, Entry] = {}
    if new_raw and not subresource:
        entries = _decode_or_empty(new_raw)
    if old is None and not entries:
        # A create with nothing tracked yet: nobody else owns anything, so the
        # writer gets exactly the fields the comparison with {} would add.
        added = typed.added_fields(new_body, root)
        if added is not None:
            _drop_members(added, STRIPPED)
            if added.empty():
                return new_body, []
            return new_body, managed.encode([Entry(manager, UPDATE, api_version, added, now, subresource)])
    old_body, old_raw = _split(old) if old is not None else ({}, None)
    if not entries:
        entries = _decode_or_empty(old_raw)
    entries = _record_update(entries, old_body, new_body, root, ident, now)
    return new_body, managed.encode(_cap_update_managers(entries).values())


def _drop_members(fields: FieldSet, other: FieldSet) -> None:
    """``fields = fields.difference(other)``, in place (``fields`` is private to the caller)."""
    fields.members -= other.members
    for pe, sub in other.children.items():
        child = fields.children.get(pe)
        if child is not None:
            _drop_members(child, sub)
            if child.empty():
                del fields.children[pe]


def remove_managed_fields_if_reset(obj: Object) -> tuple[Object, bool]:
    """(obj without managedFields, True) when the client sent ``managedFields: [{}]``; else (obj, False)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and managed.is_reset(meta.get("managedFields")):
        return _split(obj)[0], True
    return obj, False


def managed_fields_of(obj: Object) -> dict[Identity, Entry]:
    """The decoded managedFields of an object (empty if absent or malformed)."""
    return _decode_or_empty(_split(obj)[1])


def root_schema(schema: Schema) -> Schema:
    """The kind's schema with a fully described ``metadata``.

    CRD schemas (and unknown kinds) say little or nothing about metadata;
    upstream always tracks it with ObjectMeta's list and map types, so do we.
    """
    # Memoized per schema object: the walks memoize their steps per schema
    # object too, so a CRD's root must be the same dict on every write.
    hit = _ROOTS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    root = schemas.resolve(schema) or {}
    props = root.get("properties") or {}
    meta = schemas.resolve(props.get("metadata")) if "metadata" in props else None
    if not (meta and "properties" in meta):
        root = {**root, "properties": {**props, "metadata": schemas.by_name(OBJECT_META)}}
    if len(_ROOTS) >= 1_000:
        _ROOTS.clear()
    _ROOTS[id(schema)] = (schema, root)
    return root


_ROOTS: dict[int, tuple[Schema, Schema]] = {}


# -- the bookkeeping ------------------------------------------------------------


def _record_update(
    entries: dict[Identity, Entry],
    old_body: Object,
    new_body: Object,
    root: Schema,
    ident: Identity,
    now: str,
) -> dict[Identity, Entry]:
    comparison = typed.compare(old_body, new_body, root)
    result = _take_over(entries, comparison, owner=None, force=True)
    taken = comparison.changed().difference(STRIPPED)
    if taken.empty():
        return result
    manager, operation, api_version, subresource = ident
    previous = result.get(ident)
    fields = previous.fields.union(taken) if previous else taken
    result[ident] = Entry(manager, operation, api_version, fields, now, subresource)
    return result


def _take_over(
    entries: dict[Identity, Entry], comparison: Comparison, *, owner: Identity | None, force: bool
) -> dict[Identity, Entry]:
    """Remove what changed from every manager but ``owner``; refuse (unless forced) if that takes anything."""
    changed = comparison.changed()
    conflicts: dict[Identity, FieldSet] = {}
    for ident, entry in entries.items():
        if ident == owner:
            continue
        overlap = entry.fields.intersection(changed)
        if not overlap.empty():
            conflicts[ident] = overlap
    if conflicts and not force:
        raise conflict_error([(entries[ident], fields) for ident, fields in conflicts.items()])
    result: dict[Identity, Entry] = {}
    for ident, entry in entries.items():
        fields = entry.fields
        if ident in conflicts:
            fields = fields.difference(conflicts[ident])
        result[ident] = replace(entry, fields=fields.difference(comparison.removed))
    return result


def _prune(merged: Object, proposed: dict[Identity, Entry], last: FieldSet, root: Schema) -> Object:
    """Drop from ``merged`` what the applier set last time, no longer sets, and nobody else owns.

    Three steps as upstream: remove everything the applier had; add back all
    that anyone (the new configuration included) owns; add back whatever the
    applier never had (defaults, fields nobody tracks).
    """

    def members(value: Any) -> FieldSet:
        return typed.ensure_named_fields(typed.to_field_set(value, root), root)

    last_set = typed.ensure_named_fields(last, root)
    merged_set = members(merged)
    owned = FieldSet()
    for entry in proposed.values():
        owned = owned.union(entry.fields)
    owned = typed.ensure_named_fields(owned, root)

    without_last = typed.remove_items(merged, last_set, root)
    owned_back = typed.remove_items(merged, merged_set.difference(members(without_last).union(owned)), root)
    dangling = merged_set.difference(members(owned_back)).intersection(last_set)
    return typed.remove_items(merged, dangling, root)


def _cap_update_managers(entries: dict[Identity, Entry]) -> dict[Identity, Entry]:
    """At most MAX_UPDATE_MANAGERS Update entries: the oldest fold into "ancient-changes" per apiVersion."""
    updaters = [e for e in entries.values() if e.operation == UPDATE]
    excess = len(updaters) - MAX_UPDATE_MANAGERS
    if excess <= 0:
        return entries
    result = dict(entries)
    updaters.sort(key=lambda e: (e.time or "", e.identifier()))
    first_of_version: dict[str, Entry] = {}
    for entry in updaters:
        if excess <= 0:
            break
        seen = first_of_version.get(entry.api_version)
        if seen is None:
            first_of_version[entry.api_version] = entry
            continue
        bucket_id = managed.identity(ANCIENT_CHANGES, UPDATE, entry.api_version)
        bucket = result.get(bucket_id)
        if bucket is None:
            # The first old entry of this version becomes the bucket.
            result.pop(seen.identity, None)
            bucket = Entry(ANCIENT_CHANGES, UPDATE, entry.api_version, seen.fields)
        result.pop(entry.identity)
        result[bucket_id] = replace(bucket, fields=bucket.fields.union(entry.fields), time=entry.time)
        excess -= 1
    return result


# -- conflicts ----------------------------------------------------------------


def conflict_error(conflicts: list[tuple[Entry, FieldSet]]) -> errors.StatusError:
    """Upstream's apply conflict: 409 Conflict, one FieldManagerConflict cause per field."""
    ordered: list[tuple[Entry, list[Path]]] = [
        (entry, list(fields.paths())) for entry, fields in sorted(conflicts, key=lambda c: c[0].identifier())
    ]
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {entry.describe()}",
            "field": fieldpath.path_string(path),
        }
        for entry, paths in ordered
        for path in paths
    ]
    if len(causes) == 1:
        entry, paths = ordered[0]
        where = fieldpath.path_string(paths[0])
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {where}"
    else:
        lines: list[str] = []
        for entry, paths in ordered:
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {fieldpath.path_string(p)}" for p in paths)
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return errors.StatusError(409, "Conflict", message, {"causes": causes})


# -- helpers ------------------------------------------------------------------


def _split(obj: Object) -> tuple[Object, Any]:
    """(the object without metadata.managedFields, the raw managedFields)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj, None
    body = dict(obj)
    body["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return body, meta["managedFields"]


def _decode_or_empty(raw: Any) -> dict[Identity, Entry]:
    try:
        return managed.decode(raw)
    except ValueError:
        return {}  # garbage is dropped, as upstream does, rather than failing the write


def _with_managed(body: Object, entries: Any) -> Object:
    out = _clone(body)
    encoded = managed.encode(entries)
    meta = out.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    return out


def _clone(obj: Object) -> Object:
    try:
        return orjson.loads(orjson.dumps(obj))
    except TypeError:
        return copy.deepcopy(obj)


def _gvk(config: Object, api_version: str) -> str:
    version = config.get("apiVersion") or api_version
    group, _, ver = str(version).rpartition("/")
    return f"{group}/{ver}, Kind={config.get('kind', '')}"
