"""CustomResourceDefinitions and the custom resources they define.

:func:`validate_crd` checks a CRD as upstream's apiextensions validation
does (group, names, versions, storage version, schemas present and
structural at the basics).  :func:`validate_against_schema` checks a custom
resource against its version's ``openAPIV3Schema`` with the OpenAPI
validator's wording, converted to field causes the way the apiextensions
apiserver converts them: ``spec.replicas: Invalid value: "string":
spec.replicas in body must be of type integer: "string"``.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import uuid
from typing import Any

from kubeling.api.errors import Cause
from kubeling.api.validation.common import (
    as_dict,
    as_list,
    dicts,
    duplicate,
    invalid,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_int,
    not_supported,
    required,
    too_long,
    too_many,
)
from kubeling.api.validation.unknown import crd_version_schema

Obj = dict[str, Any]

TYPE_INVALID = "FieldValueTypeInvalid"
_TYPES = ("array", "boolean", "integer", "number", "object", "string")


# -- CRDs -----------------------------------------------------------------------------


def validate_crd(crd: Obj) -> list[Cause]:
    spec = as_dict(crd.get("spec"))
    errs: list[Cause] = []
    group = spec.get("group")
    names = as_dict(spec.get("names"))
    plural = names.get("plural")
    name = as_dict(crd.get("metadata")).get("name")
    if name != f"{plural}.{group}":
        errs.append(invalid("metadata.name", name or "", 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(required("spec.group"))
    else:
        errs += [invalid("spec.group", group, m) for m in is_dns1123_subdomain(str(group))]
        if "." not in str(group):
            errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    errs += _validate_names(names, "spec.names")
    errs += _validate_versions(spec, "spec.versions")
    conversion = as_dict(spec.get("conversion"))
    strategy = conversion.get("strategy")
    if strategy is not None and strategy not in ("None", "Webhook"):
        errs.append(not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))
    return errs


def _validate_names(names: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for field in ("plural", "singular"):
        value = names.get(field)
        if not value:
            errs.append(required(f"{path}.{field}"))
        else:
            errs += [invalid(f"{path}.{field}", value, m) for m in is_dns1123_label(str(value))]
    for field in ("kind", "listKind"):
        value = names.get(field)
        if not value:
            errs.append(required(f"{path}.{field}"))
        else:
            errs += [invalid(f"{path}.{field}", value, m) for m in is_dns1035_label(str(value).lower())]
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(invalid(f"{path}.listKind", names["listKind"], "kind and listKind may not be the same"))
    for i, short in enumerate(as_list(names.get("shortNames"))):
        errs += [invalid(f"{path}.shortNames[{i}]", short, m) for m in is_dns1123_label(str(short))]
    return errs


def _validate_versions(spec: Obj, path: str) -> list[Cause]:
    versions = dicts(spec.get("versions"))
    if not versions:
        return [invalid(path, [], "must have exactly one version marked as storage version")]
    errs: list[Cause] = []
    seen: set[str] = set()
    storage = 0
    for i, version in versions:
        vpath = f"{path}[{i}]"
        name = version.get("name")
        if not name:
            errs.append(required(f"{vpath}.name"))
        else:
            errs += [invalid(f"{vpath}.name", name, m) for m in is_dns1035_label(str(name))]
            if name in seen:
                errs.append(duplicate(f"{vpath}.name", name))
            seen.add(name)
        if version.get("storage") is True:
            storage += 1
        schema = as_dict(version.get("schema")).get("openAPIV3Schema")
        if schema is None:
            errs.append(required(f"{vpath}.schema.openAPIV3Schema", "schemas are required"))
        else:
            errs += validate_structural(as_dict(schema), f"{vpath}.schema.openAPIV3Schema", root=True)
    if storage != 1:
        errs.append(
            invalid(
                path,
                [v.get("name") for _, v in versions],
                "must have exactly one version marked as storage version",
            )
        )
    if not any(v.get("served") is True for _, v in versions):
        errs.append(
            invalid(
                path, [v.get("name") for _, v in versions], "must have at least one version marked as served"
            )
        )
    return errs


def validate_structural(schema: Obj, path: str, *, root: bool = False) -> list[Cause]:
    """The structural-schema basics: every specified node has a type, the root is an object."""
    errs: list[Cause] = []
    kind = schema.get("type")
    int_or_string = schema.get("x-kubernetes-int-or-string") is True
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if kind is not None and kind not in _TYPES:
        errs.append(not_supported(f"{path}.type", kind, list(_TYPES)))
    if root and kind != "object":
        if not kind:
            errs.append(required(f"{path}.type", "must not be empty at the root"))
        else:
            errs.append(invalid(f"{path}.type", kind, "must be object at the root"))
    elif not kind and not int_or_string and not preserve and not root:
        errs.append(required(f"{path}.type", "must not be empty for specified object fields"))
    if int_or_string and kind:
        errs.append(invalid(f"{path}.type", kind, "must be empty if x-kubernetes-int-or-string is true"))
    for key, child in as_dict(schema.get("properties")).items():
        errs += validate_structural(as_dict(child), f"{path}.properties[{key}]")
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, dict):
            errs.append(required(f"{path}.items", "must be specified"))
        else:
            errs += validate_structural(items, f"{path}.items")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        if schema.get("properties"):
            errs.append(forbidden_both(path))
        errs += validate_structural(additional, f"{path}.additionalProperties")
    return errs


def forbidden_both(path: str) -> Cause:
    return Cause(
        "FieldValueForbidden",
        "Forbidden: additionalProperties and properties are mutual exclusive",
        f"{path}.additionalProperties",
    )


def validate_crd_update(crd: Obj, old: Obj) -> list[Cause]:
    errs = validate_crd(crd)
    spec, old_spec = as_dict(crd.get("spec")), as_dict(old.get("spec"))
    for field in ("group", "scope"):
        if spec.get(field) != old_spec.get(field):
            errs.append(invalid(f"spec.{field}", spec.get(field), "field is immutable"))
    return errs


# -- custom resources -------------------------------------------------------------------


def validate_custom(crd: Obj | None, version: str, obj: Obj) -> list[Cause]:
    schema = crd_version_schema(crd, version)
    if schema is None:
        return []
    errs: list[Cause] = []
    props = as_dict(schema.get("properties"))
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in props:
            errs += _check(value, as_dict(props[key]), key)
    for key in as_list(schema.get("required")):
        if key not in obj and key not in ("apiVersion", "kind", "metadata"):
            errs.append(required(key))
    return errs


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_int(value) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(path: str, wanted: str, actual: str) -> Cause:
    return Cause(
        TYPE_INVALID, f'Invalid value: "{actual}": {path} in body must be of type {wanted}: "{actual}"', path
    )


def _check(value: Any, schema: Obj, path: str) -> list[Cause]:
    if value is None:
        if schema.get("nullable") is True or not schema.get("type"):
            return []
        return [_type_error(path, str(schema["type"]), "null")]
    actual = _json_type(value)
    if schema.get("x-kubernetes-int-or-string") is True:
        if actual not in ("integer", "string"):
            return [_type_error(path, "integer or string", actual)]
    else:
        wanted = schema.get("type")
        if wanted and not (actual == wanted or (wanted == "number" and actual == "integer")):
            return [_type_error(path, str(wanted), actual)]
    errs: list[Cause] = []
    errs += _check_enum(value, schema, path)
    if actual in ("integer", "number") and not isinstance(value, bool):
        errs += _check_number(value, schema, path)
    elif actual == "string":
        errs += _check_string(value, schema, path)
    elif actual == "array":
        errs += _check_array(value, schema, path)
    elif actual == "object":
        errs += _check_object(value, schema, path)
    return errs


def _check_enum(value: Any, schema: Obj, path: str) -> list[Cause]:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or value in allowed:
        return []
    return [not_supported(path, value, [str(a) if not isinstance(a, str) else a for a in allowed])]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_number(value: float, schema: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    maximum, minimum = schema.get("maximum"), schema.get("minimum")
    if maximum is not None:
        if schema.get("exclusiveMaximum") is True and value >= maximum:
            errs.append(invalid(path, value, f"{path} in body must be less than {_num(maximum)}"))
        elif value > maximum:
            errs.append(invalid(path, value, f"{path} in body must be less than or equal to {_num(maximum)}"))
    if minimum is not None:
        if schema.get("exclusiveMinimum") is True and value <= minimum:
            errs.append(invalid(path, value, f"{path} in body must be greater than {_num(minimum)}"))
        elif value < minimum:
            errs.append(
                invalid(path, value, f"{path} in body must be greater than or equal to {_num(minimum)}")
            )
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple and (value / multiple) != int(value / multiple):
        errs.append(invalid(path, value, f"{path} in body should be a multiple of {_num(multiple)}"))
    return errs


_FORMATS = {
    "date-time": lambda v: _parse_datetime(v),
    "date": lambda v: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)) and _parse_date(v),
    "ipv4": lambda v: _is_ip(v, 4),
    "ipv6": lambda v: _is_ip(v, 6),
    "uuid": lambda v: _is_uuid(v),
    "byte": lambda v: bool(re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", v)) and len(v) % 4 == 0,
}


def _parse_datetime(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text or "t" in text or " " in text


def _parse_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_ip(text: str, family: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == family
    except ValueError:
        return False


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _check_string(value: str, schema: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    max_length, min_length = schema.get("maxLength"), schema.get("minLength")
    length = len(value)
    if is_int(max_length) and length > max_length:
        errs.append(too_long(path, max_length))
    if is_int(min_length) and length < min_length:
        errs.append(invalid(path, value, f"{path} in body should be at least {min_length} chars long"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matches = re.search(pattern, value) is not None
        except re.error:
            matches = True
        if not matches:
            errs.append(invalid(path, value, f"{path} in body should match '{pattern}'"))
    fmt = schema.get("format")
    check = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    if check is not None and not check(value):
        errs.append(invalid(path, value, f'{path} in body must be of type {fmt}: "{value}"'))
    return errs


def _check_array(value: list[Any], schema: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    max_items, min_items = schema.get("maxItems"), schema.get("minItems")
    if is_int(max_items) and len(value) > max_items:
        errs.append(too_many(path, len(value), max_items))
    if is_int(min_items) and len(value) < min_items:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {min_items} items"))
    if schema.get("uniqueItems") is True or schema.get("x-kubernetes-list-type") == "set":
        for i, item in enumerate(value):
            if item in value[:i]:
                errs.append(duplicate(f"{path}[{i}]", item))
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            errs += _check(item, items, f"{path}[{i}]")
    return errs


def _check_object(value: Obj, schema: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    props = as_dict(schema.get("properties"))
    for key in as_list(schema.get("required")):
        if key not in value:
            errs.append(required(f"{path}.{key}"))
    max_props, min_props = schema.get("maxProperties"), schema.get("minProperties")
    if is_int(max_props) and len(value) > max_props:
        errs.append(too_many(path, len(value), max_props))
    if is_int(min_props) and len(value) < min_props:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {min_props} properties"))
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if key in props:
            errs += _check(item, as_dict(props[key]), f"{path}.{key}")
        elif isinstance(additional, dict):
            errs += _check(item, additional, f"{path}[{key}]")
    if schema.get("x-kubernetes-embedded-resource") is True:
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                errs.append(required(f"{path}.{key}", "must not be empty"))
    return errs
