"""Schemas of the built-in kinds, from the ``kubernetes-validate`` package.

That package ships upstream's OpenAPI definitions for Kubernetes 1.37 as one
JSON-Schema document (``_definitions.json``) that keeps the
``x-kubernetes-patch-*`` and list-type extensions.  Everything that needs to
know a field's shape (OpenAPI publishing, strategic merge patch, server-side
apply, unknown-field detection) walks the schemas through this module.

Loaded once per process, lazily (the file is ~1.7 MB).
"""

from __future__ import annotations

import functools
from importlib import resources as importlib_resources
from typing import Any

import orjson

SCHEMA_VERSION_DIR = "v1.37.0-local"
_REF_PREFIX = "#/$defs/"

Schema = dict[str, Any]


@functools.cache
def definitions() -> dict[str, Schema]:
    """Every definition by its name, e.g. ``io.k8s.api.core.v1.Pod``."""
    root = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_VERSION_DIR
    document = orjson.loads((root / "_definitions.json").read_bytes())
    return document["$defs"]


def ref_name(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return ref[len(_REF_PREFIX) :]
    return None


def resolve(schema: Schema | None) -> Schema | None:
    """Follow ``$ref`` (possibly chained) to the referenced definition.

    Keys set beside the ``$ref`` (like the patch extensions on a property) are
    kept: the property's own keys win over the definition's.
    """
    seen = 0
    while schema is not None and (name := ref_name(schema)) is not None and seen < 16:
        target = definitions().get(name)
        if target is None:
            return None
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **extra} if extra else target
        seen += 1
    return schema


def by_name(name: str) -> Schema | None:
    return definitions().get(name)


def _enum_value(schema: Schema | None) -> str | None:
    if not schema:
        return None
    values = schema.get("enum")
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return None


@functools.cache
def kinds() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, for every top-level kind.

    The JSON-Schema form has no ``x-kubernetes-group-version-kind``; top-level
    kinds are recognisable by single-valued enums on apiVersion and kind.
    """
    found: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        props = schema.get("properties") or {}
        api_version = _enum_value(props.get("apiVersion"))
        kind = _enum_value(props.get("kind"))
        if api_version and kind:
            group, _, version = api_version.rpartition("/")
            found[(group, version, kind)] = name
    return found


def gvk_of(name: str) -> tuple[str, str, str] | None:
    for gvk, def_name in kinds().items():
        if def_name == name:
            return gvk
    return None


def for_kind(group: str, version: str, kind: str) -> Schema | None:
    name = kinds().get((group, version, kind))
    return definitions().get(name) if name else None


def types_of(schema: Schema | None) -> set[str]:
    """The JSON types a schema admits, ignoring "null"."""
    if not schema:
        return set()
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared} - {"null"}
    if isinstance(declared, list):
        return {t for t in declared if t != "null"}
    if "oneOf" in schema:
        out: set[str] = set()
        for option in schema["oneOf"]:
            out |= types_of(option)
        return out
    return set()


def property_schema(schema: Schema | None, key: str) -> Schema | None:
    """The schema of ``key`` inside an object schema (a field or a map value)."""
    schema = resolve(schema)
    if not schema:
        return None
    props = schema.get("properties")
    if props and key in props:
        return resolve(props[key])
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        return resolve(additional)
    return None


def items_schema(schema: Schema | None) -> Schema | None:
    schema = resolve(schema)
    if not schema:
        return None
    items = schema.get("items")
    return resolve(items) if isinstance(items, dict) else None


def is_map(schema: Schema | None) -> bool:
    """An object with free-form keys (labels, data) rather than named fields."""
    schema = resolve(schema)
    return (
        bool(schema) and "properties" not in schema and isinstance(schema.get("additionalProperties"), dict)
    )


def patch_strategy(schema: Schema | None) -> tuple[str | None, str | None]:
    """(x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key) of a field."""
    if not schema:
        return None, None
    return schema.get("x-kubernetes-patch-strategy"), schema.get("x-kubernetes-patch-merge-key")


def list_type(schema: Schema | None) -> tuple[str | None, list[str]]:
    """(x-kubernetes-list-type, x-kubernetes-list-map-keys) of a list field."""
    if not schema:
        return None, []
    return schema.get("x-kubernetes-list-type"), list(schema.get("x-kubernetes-list-map-keys") or [])
