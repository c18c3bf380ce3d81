"""Swagger 2.0 documents as gnostic ``openapi.v2.Document`` protobuf.

kubectl asks ``/openapi/v2`` for
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` only and
parses the answer with gnostic's generated Go types, so this module writes
exactly those messages.  Field numbers are gnostic's (``openapiv2/OpenAPIv2.proto``);
the wire format is plain proto3: scalars at their zero value are left out,
sub-messages are always written (a ``oneof`` member must be present even
when empty), fields go out in field-number order like Go's marshaller.

Values that gnostic keeps as ``Any`` (vendor extensions, ``enum``,
``default``, ``example``) travel as YAML text in ``Any.yaml``; JSON is YAML,
so each value is written as its JSON text, which kubectl's YAML decoder reads
back to the same value.

Only what a Kubernetes document uses is encoded: schemas, paths with their
operations, query/path/body parameters, responses, info, security.
Keys without a protobuf field (there are none in documents built by
:mod:`kubeling.apiserver.openapiv2`) are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import orjson

Node = dict[str, Any]

_VARINT = 0
_FIXED64 = 1
_BYTES = 2


# -- wire format ----------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 negatives: ten bytes of two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _submessage(number: int, body: bytes) -> bytes:
    return _tag(number, _BYTES) + _varint(len(body)) + body


def _string(number: int, value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        return b""
    data = value.encode()
    return _tag(number, _BYTES) + _varint(len(data)) + data


def _strings(number: int, values: Any) -> bytes:
    if not isinstance(values, list):
        return b""
    return b"".join(_submessage(number, v.encode()) for v in values if isinstance(v, str))


def _bool(number: int, value: Any) -> bytes:
    return _tag(number, _VARINT) + b"\x01" if value is True else b""


def _int64(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        return b""
    return _tag(number, _VARINT) + _varint(value)


def _double(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float) or value == 0:
        return b""
    return _tag(number, _FIXED64) + struct.pack("<d", float(value))


def _any(value: Any) -> bytes:
    """gnostic ``Any``: the value's YAML (here: its JSON text) in field 2."""
    return _string(2, orjson.dumps(value).decode())


def _named(number: int, items: Any, encode_value: Callable[[Any], bytes]) -> bytes:
    """A map written as gnostic's ordered ``Named*`` pairs (name = 1, value = 2)."""
    if not isinstance(items, dict):
        return b""
    return b"".join(
        _submessage(number, _string(1, name) + _submessage(2, encode_value(value)))
        for name, value in items.items()
    )


def _extensions(number: int, node: Node) -> bytes:
    found = {k: v for k, v in node.items() if k.startswith("x-")}
    return _named(number, found, _any)


# -- schemas ---------------------------------------------------------------------------------


def schema(node: Node) -> bytes:
    """One ``openapi.v2.Schema``."""
    if not isinstance(node, dict):
        return b""
    parts = [
        _string(1, node.get("$ref")),
        _string(2, node.get("format")),
        _string(3, node.get("title")),
        _string(4, node.get("description")),
    ]
    if "default" in node:
        parts.append(_submessage(5, _any(node["default"])))
    parts += [
        _double(6, node.get("multipleOf")),
        _double(7, node.get("maximum")),
        _bool(8, node.get("exclusiveMaximum")),
        _double(9, node.get("minimum")),
        _bool(10, node.get("exclusiveMinimum")),
        _int64(11, node.get("maxLength")),
        _int64(12, node.get("minLength")),
        _string(13, node.get("pattern")),
        _int64(14, node.get("maxItems")),
        _int64(15, node.get("minItems")),
        _bool(16, node.get("uniqueItems")),
        _int64(17, node.get("maxProperties")),
        _int64(18, node.get("minProperties")),
        _strings(19, node.get("required")),
    ]
    if isinstance(node.get("enum"), list):
        parts += [_submessage(20, _any(value)) for value in node["enum"]]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        parts.append(_submessage(21, _submessage(1, schema(extra))))
    elif isinstance(extra, bool):
        # AdditionalPropertiesItem.boolean: a oneof member, written even when false.
        parts.append(_submessage(21, _tag(2, _VARINT) + (b"\x01" if extra else b"\x00")))
    declared = node.get("type")
    if isinstance(declared, str):
        parts.append(_submessage(22, _strings(1, [declared])))
    if isinstance(node.get("items"), dict):
        parts.append(_submessage(23, _submessage(1, schema(node["items"]))))
    if isinstance(node.get("allOf"), list):
        parts += [_submessage(24, schema(sub)) for sub in node["allOf"]]
    if isinstance(node.get("properties"), dict):
        parts.append(_submessage(25, _named(1, node["properties"], schema)))
    parts += [_string(26, node.get("discriminator")), _bool(27, node.get("readOnly"))]
    if "example" in node:
        parts.append(_submessage(30, _any(node["example"])))
    parts.append(_extensions(31, node))
    return b"".join(parts)


# -- paths -----------------------------------------------------------------------------------


def _body_parameter(node: Node) -> bytes:
    return b"".join(
        [
            _string(1, node.get("description")),
            _string(2, node.get("name")),
            _string(3, node.get("in")),
            _bool(4, node.get("required")),
            _submessage(5, schema(node.get("schema") or {})),
            _extensions(6, node),
        ]
    )


def _simple_parameter(node: Node, *, with_allow_empty: bool) -> bytes:
    """Query and path parameter sub-schemas: the same fields, shifted by one after ``name``."""
    shift = 1 if with_allow_empty else 0
    parts = [
        _bool(1, node.get("required")),
        _string(2, node.get("in")),
        _string(3, node.get("description")),
        _string(4, node.get("name")),
    ]
    if with_allow_empty:
        parts.append(_bool(5, node.get("allowEmptyValue")))
    parts += [
        _string(5 + shift, node.get("type")),
        _string(6 + shift, node.get("format")),
        _bool(19 + shift, node.get("uniqueItems")),
        _extensions(22 + shift, node),
    ]
    return b"".join(parts)


_NON_BODY = {"header": 1, "formData": 2, "query": 3, "path": 4}


def _parameters_item(node: Node) -> bytes:
    """``ParametersItem`` → ``Parameter`` → body or non-body parameter."""
    where = node.get("in")
    if where == "body":
        parameter = _submessage(1, _body_parameter(node))
    else:
        sub = _simple_parameter(node, with_allow_empty=where in ("query", "formData"))
        parameter = _submessage(2, _submessage(_NON_BODY.get(str(where), 3), sub))
    return _submessage(1, parameter)


def _response(node: Node) -> bytes:
    parts = [_string(1, node.get("description"))]
    if isinstance(node.get("schema"), dict):
        parts.append(_submessage(2, _submessage(1, schema(node["schema"]))))
    parts.append(_extensions(5, node))
    return b"".join(parts)


def _responses(node: Node) -> bytes:
    codes = {k: v for k, v in node.items() if not k.startswith("x-")}
    return _named(1, codes, lambda value: _submessage(1, _response(value))) + _extensions(2, node)


def _operation(node: Node) -> bytes:
    return b"".join(
        [
            _strings(1, node.get("tags")),
            _string(2, node.get("summary")),
            _string(3, node.get("description")),
            _string(5, node.get("operationId")),
            _strings(6, node.get("produces")),
            _strings(7, node.get("consumes")),
            *(_submessage(8, _parameters_item(p)) for p in node.get("parameters") or []),
            _submessage(9, _responses(node.get("responses") or {})),
            _strings(10, node.get("schemes")),
            _bool(11, node.get("deprecated")),
            _extensions(13, node),
        ]
    )


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(node: Node) -> bytes:
    parts = [_string(1, node.get("$ref"))]
    for method, number in _METHODS.items():
        if isinstance(node.get(method), dict):
            parts.append(_submessage(number, _operation(node[method])))
    parts += [_submessage(9, _parameters_item(p)) for p in node.get("parameters") or []]
    parts.append(_extensions(10, node))
    return b"".join(parts)


# -- document --------------------------------------------------------------------------------


def _security_definition(node: Node) -> bytes:
    if node.get("type") == "apiKey":
        body = b"".join(
            [
                _string(1, node.get("type")),
                _string(2, node.get("name")),
                _string(3, node.get("in")),
                _string(4, node.get("description")),
                _extensions(5, node),
            ]
        )
        return _submessage(2, body)
    # basic authentication is the only other kind a Kubernetes document could name
    return _submessage(1, _string(1, node.get("type")) + _string(2, node.get("description")))


def _security_requirement(node: Node) -> bytes:
    return _named(1, node, lambda scopes: _strings(1, scopes))


def encode_document(document: Node) -> bytes:
    """A Swagger 2.0 document (a JSON-shaped dict) as ``openapi.v2.Document`` bytes."""
    info = document.get("info") or {}
    parts = [
        _string(1, document.get("swagger")),
        _submessage(2, _string(1, info.get("title")) + _string(2, info.get("version"))),
        _string(3, document.get("host")),
        _string(4, document.get("basePath")),
        _strings(5, document.get("schemes")),
        _strings(6, document.get("consumes")),
        _strings(7, document.get("produces")),
    ]
    paths = document.get("paths") or {}
    routes = {k: v for k, v in paths.items() if not k.startswith("x-")}
    parts.append(_submessage(8, _extensions(1, paths) + _named(2, routes, _path_item)))
    parts.append(_submessage(9, _named(1, document.get("definitions") or {}, schema)))
    parts += [_submessage(12, _security_requirement(r)) for r in document.get("security") or []]
    if document.get("securityDefinitions"):
        parts.append(_submessage(13, _named(1, document["securityDefinitions"], _security_definition)))
    parts.append(_extensions(16, document))
    return b"".join(parts)
