"""Unknown-field detection and pruning.

Both walk the object beside its schema: the built-in kind's definition from
:mod:`kubeling.api.schemas` (JSON-Schema with ``$ref``), or a custom
resource's ``openAPIV3Schema`` for the served version (structural schema,
inline, honouring ``x-kubernetes-preserve-unknown-fields`` and
``x-kubernetes-embedded-resource``).  A schema that names no properties and
no ``additionalProperties`` (RawExtension, a preserved subtree) stops the
walk: anything goes below it.

Paths come out in upstream's strict-decoding notation with a leading dot,
``.spec.containers[0].foo``; the caller strips the dot for messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.api import schemas
from kubeling.api.resources import Resource

Schema = dict[str, Any]
# Steps from a schema to the schema of a field / of a list item / of a map value.
Resolver = Callable[[Schema | None], Schema | None]

_TYPE_META = ("apiVersion", "kind")


def crd_version_schema(crd: dict[str, Any] | None, version: str) -> Schema | None:
    """The openAPIV3Schema of one version of a CRD (None when it has none)."""
    spec = (crd or {}).get("spec") or {}
    for entry in spec.get("versions") or []:
        if isinstance(entry, dict) and entry.get("name") == version:
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                return schema
    # v1beta1-style CRDs keep one schema for all versions.
    legacy = (spec.get("validation") or {}).get("openAPIV3Schema")
    return legacy if isinstance(legacy, dict) else None


def _object_meta_schema() -> Schema | None:
    return schemas.by_name("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def _root(resource: Resource) -> tuple[Schema | None, bool]:
    """(schema, is_builtin) for the resource's objects."""
    if resource.crd is not None:
        return crd_version_schema(resource.crd, resource.version), False
    if resource.schema_name:
        return schemas.by_name(resource.schema_name), True
    return None, True


def unknown_fields(resource: Resource, obj: dict[str, Any]) -> list[str]:
    schema, builtin = _root(resource)
    if schema is None or not isinstance(obj, dict):
        return []
    found: list[str] = []
    if builtin:
        _walk_builtin(obj, schema, "", found)
    else:
        _walk_structural(obj, schema, "", found, root=True)
    return found


def prune_unknown(resource: Resource, obj: dict[str, Any]) -> None:
    """Drop what the schema doesn't know, in place."""
    schema, builtin = _root(resource)
    if schema is None or not isinstance(obj, dict):
        return
    if builtin:
        _prune_builtin(obj, schema)
    else:
        _prune_structural(obj, schema, root=True)


# -- built-ins ------------------------------------------------------------------------


def _free_form(schema: Schema) -> bool:
    return "properties" not in schema and not isinstance(schema.get("additionalProperties"), dict)


def _walk_builtin(value: Any, schema: Schema | None, path: str, found: list[str]) -> None:
    schema = schemas.resolve(schema)
    if not schema:
        return
    if isinstance(value, dict):
        if _free_form(schema):
            return
        props = schema.get("properties")
        for key, item in value.items():
            child = f"{path}.{key}"
            if props is not None:
                if key not in props:
                    found.append(child)
                    continue
                _walk_builtin(item, props[key], child, found)
            else:
                _walk_builtin(item, schema["additionalProperties"], f"{path}[{key}]", found)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _walk_builtin(item, items, f"{path}[{i}]", found)


def _prune_builtin(value: Any, schema: Schema | None) -> None:
    schema = schemas.resolve(schema)
    if not schema:
        return
    if isinstance(value, dict):
        if _free_form(schema):
            return
        props = schema.get("properties")
        for key in list(value):
            if props is not None:
                if key not in props:
                    del value[key]
                else:
                    _prune_builtin(value[key], props[key])
            else:
                _prune_builtin(value[key], schema["additionalProperties"])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _prune_builtin(item, schema["items"])


# -- structural schemas (custom resources) ----------------------------------------------


def _preserves(schema: Schema) -> bool:
    return schema.get("x-kubernetes-preserve-unknown-fields") is True


def _structural_children(schema: Schema) -> tuple[dict[str, Any] | None, Any]:
    """(properties, additionalProperties) of an object schema, allOf/anyOf folded in."""
    props: dict[str, Any] | None = (
        dict(schema["properties"]) if isinstance(schema.get("properties"), dict) else None
    )
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            if isinstance(branch, dict) and isinstance(branch.get("properties"), dict):
                props = {
                    **(props or {}),
                    **{k: v for k, v in branch["properties"].items() if k not in (props or {})},
                }
    return props, schema.get("additionalProperties")


def _walk_structural(value: Any, schema: Any, path: str, found: list[str], *, root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        embedded = root or schema.get("x-kubernetes-embedded-resource") is True
        if embedded and "metadata" in value:
            _walk_builtin(value["metadata"], _object_meta_schema(), f"{path}.metadata", found)
        props, additional = _structural_children(schema)
        for key, item in value.items():
            child = f"{path}.{key}"
            if embedded and key in (*_TYPE_META, "metadata"):
                continue
            if props is not None and key in props:
                _walk_structural(item, props[key], child, found)
            elif isinstance(additional, dict):
                _walk_structural(item, additional, f"{path}[{key}]", found)
            elif additional is True or _preserves(schema):
                continue
            else:
                found.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _walk_structural(item, schema["items"], f"{path}[{i}]", found)


def _prune_structural(value: Any, schema: Any, *, root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        embedded = root or schema.get("x-kubernetes-embedded-resource") is True
        if embedded and isinstance(value.get("metadata"), dict):
            _prune_builtin(value["metadata"], _object_meta_schema())
        props, additional = _structural_children(schema)
        for key in list(value):
            if embedded and key in (*_TYPE_META, "metadata"):
                continue
            if props is not None and key in props:
                _prune_structural(value[key], props[key])
            elif isinstance(additional, dict):
                _prune_structural(value[key], additional)
            elif additional is True or _preserves(schema):
                continue
            else:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _prune_structural(item, schema["items"])
