"""The gnostic protobuf encoding of ``/openapi/v2``, read back with the ``protobuf`` library.

The reader is independent of the encoder: message classes are made at test
time from a descriptor of gnostic's ``openapi.v2`` messages (the subset with
the fields kubectl reads; the library skips the rest as unknown fields).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from kubeling.api.resources import Registry
from kubeling.apiserver.openapi import OpenAPIPublisher
from kubeling.apiserver.openapiv2 import OpenAPIV2Publisher
from kubeling.apiserver.openapiv2_proto import encode_document, schema

F = descriptor_pb2.FieldDescriptorProto
STRING, BOOL, INT64, DOUBLE, MESSAGE = F.TYPE_STRING, F.TYPE_BOOL, F.TYPE_INT64, F.TYPE_DOUBLE, F.TYPE_MESSAGE
REPEATED = F.LABEL_REPEATED

# message name → [(field name, number, type, message type or "", repeated, oneof index)]
MESSAGES: dict[str, list[tuple[str, int, int, str, bool, int | None]]] = {
    "Any": [("yaml", 2, STRING, "", False, None)],
    "NamedAny": [("name", 1, STRING, "", False, None), ("value", 2, MESSAGE, "Any", False, None)],
    "NamedSchema": [("name", 1, STRING, "", False, None), ("value", 2, MESSAGE, "Schema", False, None)],
    "TypeItem": [("value", 1, STRING, "", True, None)],
    "ItemsItem": [("schema", 1, MESSAGE, "Schema", True, None)],
    "Properties": [("additional_properties", 1, MESSAGE, "NamedSchema", True, None)],
    "AdditionalPropertiesItem": [
        ("schema", 1, MESSAGE, "Schema", False, 0),
        ("boolean", 2, BOOL, "", False, 0),
    ],
    "Schema": [
        ("_ref", 1, STRING, "", False, None),
        ("format", 2, STRING, "", False, None),
        ("description", 4, STRING, "", False, None),
        ("default", 5, MESSAGE, "Any", False, None),
        ("maximum", 7, DOUBLE, "", False, None),
        ("max_length", 11, INT64, "", False, None),
        ("min_items", 15, INT64, "", False, None),
        ("unique_items", 16, BOOL, "", False, None),
        ("required", 19, STRING, "", True, None),
        ("enum", 20, MESSAGE, "Any", True, None),
        ("additional_properties", 21, MESSAGE, "AdditionalPropertiesItem", False, None),
        ("type", 22, MESSAGE, "TypeItem", False, None),
        ("items", 23, MESSAGE, "ItemsItem", False, None),
        ("properties", 25, MESSAGE, "Properties", False, None),
        ("vendor_extension", 31, MESSAGE, "NamedAny", True, None),
    ],
    "Definitions": [("additional_properties", 1, MESSAGE, "NamedSchema", True, None)],
    "Info": [("title", 1, STRING, "", False, None), ("version", 2, STRING, "", False, None)],
    "BodyParameter": [
        ("name", 2, STRING, "", False, None),
        ("in", 3, STRING, "", False, None),
        ("required", 4, BOOL, "", False, None),
        ("schema", 5, MESSAGE, "Schema", False, None),
    ],
    "QueryParameterSubSchema": [
        ("in", 2, STRING, "", False, None),
        ("name", 4, STRING, "", False, None),
        ("type", 6, STRING, "", False, None),
        ("unique_items", 20, BOOL, "", False, None),
    ],
    "PathParameterSubSchema": [
        ("required", 1, BOOL, "", False, None),
        ("in", 2, STRING, "", False, None),
        ("name", 4, STRING, "", False, None),
        ("type", 5, STRING, "", False, None),
        ("unique_items", 19, BOOL, "", False, None),
    ],
    "NonBodyParameter": [
        ("query_parameter_sub_schema", 3, MESSAGE, "QueryParameterSubSchema", False, 0),
        ("path_parameter_sub_schema", 4, MESSAGE, "PathParameterSubSchema", False, 0),
    ],
    "Parameter": [
        ("body_parameter", 1, MESSAGE, "BodyParameter", False, 0),
        ("non_body_parameter", 2, MESSAGE, "NonBodyParameter", False, 0),
    ],
    "ParametersItem": [("parameter", 1, MESSAGE, "Parameter", False, 0)],
    "SchemaItem": [("schema", 1, MESSAGE, "Schema", False, 0)],
    "Response": [
        ("description", 1, STRING, "", False, None),
        ("schema", 2, MESSAGE, "SchemaItem", False, None),
    ],
    "ResponseValue": [("response", 1, MESSAGE, "Response", False, 0)],
    "NamedResponseValue": [
        ("name", 1, STRING, "", False, None),
        ("value", 2, MESSAGE, "ResponseValue", False, None),
    ],
    "Responses": [("response_code", 1, MESSAGE, "NamedResponseValue", True, None)],
    "Operation": [
        ("tags", 1, STRING, "", True, None),
        ("operation_id", 5, STRING, "", False, None),
        ("produces", 6, STRING, "", True, None),
        ("consumes", 7, STRING, "", True, None),
        ("parameters", 8, MESSAGE, "ParametersItem", True, None),
        ("responses", 9, MESSAGE, "Responses", False, None),
        ("vendor_extension", 13, MESSAGE, "NamedAny", True, None),
    ],
    "PathItem": [
        ("get", 2, MESSAGE, "Operation", False, None),
        ("put", 3, MESSAGE, "Operation", False, None),
        ("post", 4, MESSAGE, "Operation", False, None),
        ("delete", 5, MESSAGE, "Operation", False, None),
        ("patch", 8, MESSAGE, "Operation", False, None),
        ("parameters", 9, MESSAGE, "ParametersItem", True, None),
    ],
    "NamedPathItem": [("name", 1, STRING, "", False, None), ("value", 2, MESSAGE, "PathItem", False, None)],
    "Paths": [("path", 2, MESSAGE, "NamedPathItem", True, None)],
    "StringArray": [("value", 1, STRING, "", True, None)],
    "NamedStringArray": [
        ("name", 1, STRING, "", False, None),
        ("value", 2, MESSAGE, "StringArray", False, None),
    ],
    "SecurityRequirement": [("additional_properties", 1, MESSAGE, "NamedStringArray", True, None)],
    "Document": [
        ("swagger", 1, STRING, "", False, None),
        ("info", 2, MESSAGE, "Info", False, None),
        ("paths", 8, MESSAGE, "Paths", False, None),
        ("definitions", 9, MESSAGE, "Definitions", False, None),
        ("security", 12, MESSAGE, "SecurityRequirement", True, None),
    ],
}


@functools.cache
def message_class(name: str) -> Any:
    """The class of ``openapi.v2.<name>``, from a descriptor built here."""
    file = descriptor_pb2.FileDescriptorProto(
        name="test_openapiv2.proto", package="openapi.v2", syntax="proto3"
    )
    for message_name, fields in MESSAGES.items():
        message = file.message_type.add(name=message_name)
        if any(f[5] is not None for f in fields):
            message.oneof_decl.add(name="oneof")
        for field_name, number, kind, type_name, repeated, oneof in fields:
            field = message.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=REPEATED if repeated else F.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = ".openapi.v2." + type_name
            if oneof is not None:
                field.oneof_index = oneof
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("openapi.v2." + name))


def decode(name: str, data: bytes) -> Any:
    message = message_class(name)()
    message.ParseFromString(data)
    return message


def extensions(named: Any) -> dict[str, Any]:
    """Vendor extensions as kubectl reads them: each value's YAML text, parsed."""
    return {item.name: yaml.safe_load(item.value.yaml) for item in named}


def schema_as_json(message: Any) -> dict[str, Any]:
    """A decoded Schema back in Swagger JSON form (only the fields the descriptor has)."""
    out: dict[str, Any] = {}
    for key, field in (("$ref", "_ref"), ("format", "format"), ("description", "description")):
        if getattr(message, field):
            out[key] = getattr(message, field)
    if message.HasField("default"):
        out["default"] = yaml.safe_load(message.default.yaml)
    for key, field in (("maxLength", "max_length"), ("minItems", "min_items"), ("maximum", "maximum")):
        if getattr(message, field):
            out[key] = getattr(message, field)
    if message.unique_items:
        out["uniqueItems"] = True
    if message.required:
        out["required"] = list(message.required)
    if message.enum:
        out["enum"] = [yaml.safe_load(item.yaml) for item in message.enum]
    if message.HasField("additional_properties"):
        extra = message.additional_properties
        which = extra.WhichOneof("oneof")
        out["additionalProperties"] = schema_as_json(extra.schema) if which == "schema" else extra.boolean
    if message.HasField("type"):
        (out["type"],) = message.type.value
    if message.HasField("items"):
        (item,) = message.items.schema
        out["items"] = schema_as_json(item)
    if message.HasField("properties"):
        out["properties"] = {
            p.name: schema_as_json(p.value) for p in message.properties.additional_properties
        }
    out.update(extensions(message.vendor_extension))
    return out


DOCUMENT = OpenAPIV2Publisher(OpenAPIPublisher(Registry())).document()


@pytest.fixture(scope="module")
def decoded() -> Any:
    return decode("Document", encode_document(DOCUMENT))


@pytest.mark.parametrize(
    "node",
    [
        {"type": "string", "description": "plain"},
        {"$ref": "#/definitions/a.B", "description": "with a description"},
        {"type": "string", "enum": ["Always", "Never"], "default": "Always"},
        {"type": "integer", "format": "int64", "maximum": 5.5, "default": -3},
        {"type": "string", "maxLength": 300, "default": 'ünïcode "quoted"\n'},
        {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
        {"type": "object", "additionalProperties": {"type": "integer", "format": "int32"}},
        {"type": "object", "additionalProperties": False},
        {"type": "object", "additionalProperties": True},
        {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "$ref": {"type": "string"}},
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}],
            "x-kubernetes-map-type": "atomic",
            "x-kubernetes-unions": [{"discriminator": "type", "fields-to-discriminateBy": {"a": "A"}}],
        },
        {"default": {}},
    ],
    ids=lambda node: orjson.dumps(node).decode()[:60],
)
def test_schema_round_trips(node: dict[str, Any]) -> None:
    assert schema_as_json(decode("Schema", schema(node))) == node


def test_every_definition_round_trips(decoded: Any) -> None:
    assert decoded.swagger == "2.0"
    assert decoded.info.title == "Kubernetes"
    named = decoded.definitions.additional_properties
    assert [n.name for n in named] == list(DOCUMENT["definitions"])
    for item in named:
        expected = DOCUMENT["definitions"][item.name]
        assert schema_as_json(item.value) == _known_fields(expected), item.name


def _known_fields(node: Any) -> Any:
    """The JSON with only what the test descriptor decodes (titles, patterns, ... dropped)."""
    keep = {
        "$ref", "format", "description", "default", "maximum", "maxLength", "minItems", "uniqueItems",
        "required", "enum", "additionalProperties", "type", "items", "properties",
    }  # fmt: skip
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _known_fields(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _known_fields(value)
        elif key in keep or key.startswith("x-"):
            out[key] = value
    return out


def test_patch_operation_tells_kubectl_the_patch_types(decoded: Any) -> None:
    paths = {p.name: p.value for p in decoded.paths.path}
    assert list(paths) == list(DOCUMENT["paths"])
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item.patch
    assert patch.operation_id == "patchAppsV1NamespacedDeployment"
    assert "application/strategic-merge-patch+json" in patch.consumes
    assert "application/json" in patch.produces
    assert extensions(patch.vendor_extension)["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    body = patch.parameters[0].parameter.body_parameter
    assert (body.name, getattr(body, "in"), body.required) == ("body", "body", True)
    assert body.schema._ref == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
    query = patch.parameters[3].parameter.non_body_parameter.query_parameter_sub_schema
    assert (query.name, query.type, query.unique_items) == ("fieldValidation", "string", True)
    path_param = item.parameters[0].parameter.non_body_parameter.path_parameter_sub_schema
    assert (path_param.name, path_param.type, path_param.required) == ("name", "string", True)
    codes = {r.name: r.value.response for r in patch.responses.response_code}
    assert codes["200"].schema.schema._ref == "#/definitions/io.k8s.api.apps.v1.Deployment"
    assert codes["401"].description == "Unauthorized" and not codes["401"].HasField("schema")


def test_security_requirement(decoded: Any) -> None:
    (requirement,) = decoded.security
    (bearer,) = requirement.additional_properties
    assert bearer.name == "BearerToken" and list(bearer.value.value) == []
