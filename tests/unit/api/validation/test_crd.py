"""CRDs and custom resources validated against their schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeling.api.resources import Resource
from kubeling.api.validation import validate, validate_custom

from .conftest import check, fields, resource

Obj = dict[str, Any]
CRD = resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition")

SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "string", "enum": ["small", "large"]},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMaximum": True, "maximum": 1},
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "note": {"type": "string", "nullable": True},
                "when": {"type": "string", "format": "date-time"},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "inner": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def make_crd(**spec: Any) -> Obj:
    base = {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}}],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {**base, **spec},
    }


WIDGETS = Resource(
    group="example.com",
    version="v1",
    kind="Widget",
    plural="widgets",
    singular="widget",
    namespaced=True,
    crd=make_crd(),
)


def widget(**spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"},
        "spec": {"size": "small", **spec},
    }


def test_valid_crd():
    assert check(CRD, make_crd()) == []


def _version(**extra: Any) -> Obj:
    return {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}, **extra}


CRD_CASES = [
    (
        "name-mismatch",
        {"names": {"plural": "gadgets", "kind": "Gadget"}},
        [("metadata.name", "FieldValueInvalid")],
    ),
    (
        "group-without-dot",
        {"group": "example"},
        [("metadata.name", "FieldValueInvalid"), ("spec.group", "FieldValueInvalid")],
    ),
    ("scope", {"scope": "Galaxy"}, [("spec.scope", "FieldValueNotSupported")]),
    ("no-storage-version", {"versions": [_version(storage=False)]}, [("spec.versions", "FieldValueInvalid")]),
    (
        "two-storage-versions",
        {"versions": [_version(), _version(name="v2")]},
        [("spec.versions", "FieldValueInvalid")],
    ),
    (
        "duplicate-version",
        {"versions": [_version(), _version(storage=False)]},
        [("spec.versions[1].name", "FieldValueDuplicate")],
    ),
    (
        "schema-required",
        {"versions": [{"name": "v1", "served": True, "storage": True}]},
        [("spec.versions[0].schema.openAPIV3Schema", "FieldValueRequired")],
    ),
    (
        "structural-type-missing",
        {"versions": [_version(schema={"openAPIV3Schema": {"type": "object", "properties": {"spec": {}}}})]},
        [("spec.versions[0].schema.openAPIV3Schema.properties[spec].type", "FieldValueRequired")],
    ),
    (
        "root-not-object",
        {"versions": [_version(schema={"openAPIV3Schema": {"type": "string"}})]},
        [("spec.versions[0].schema.openAPIV3Schema.type", "FieldValueInvalid")],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in CRD_CASES], ids=[c[0] for c in CRD_CASES])
def test_crd_spec(spec, expected):
    assert fields(check(CRD, make_crd(**spec))) == expected


def test_crd_defaults_names_and_conversion():
    crd = make_crd(names={"plural": "widgets", "kind": "Widget"})
    from kubeling.api import defaults

    defaults.apply_defaults(CRD, crd)
    assert crd["spec"]["names"]["singular"] == "widget"
    assert crd["spec"]["names"]["listKind"] == "WidgetList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}


def test_crd_scope_is_immutable():
    old = make_crd()
    assert fields(check(CRD, make_crd(scope="Cluster"), old)) == [("spec.scope", "FieldValueInvalid")]


def test_valid_custom_resource():
    obj = widget(
        replicas=3,
        ratio=0.5,
        name="abc",
        tags=["a"],
        port="http",
        labels={"a": "b"},
        note=None,
        when="2024-01-01T00:00:00Z",
        raw={"anything": [1, 2]},
        inner={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}},
    )
    assert validate_custom(WIDGETS, obj) == []


CUSTOM_CASES = [
    ("type", {"replicas": "three"}, [("spec.replicas", "FieldValueTypeInvalid")]),
    ("maximum", {"replicas": 11}, [("spec.replicas", "FieldValueInvalid")]),
    ("minimum", {"replicas": 0}, [("spec.replicas", "FieldValueInvalid")]),
    ("exclusive-maximum", {"ratio": 1}, [("spec.ratio", "FieldValueInvalid")]),
    ("enum", {"size": "medium"}, [("spec.size", "FieldValueNotSupported")]),
    ("max-length", {"name": "abcdef"}, [("spec.name", "FieldValueTooLong")]),
    ("min-length", {"name": "a"}, [("spec.name", "FieldValueInvalid")]),
    ("pattern", {"name": "AB"}, [("spec.name", "FieldValueInvalid")]),
    ("max-items", {"tags": ["a", "b", "c"]}, [("spec.tags", "FieldValueTooMany")]),
    ("item-type", {"tags": ["a", 1]}, [("spec.tags[1]", "FieldValueTypeInvalid")]),
    ("int-or-string", {"port": 1.5}, [("spec.port", "FieldValueTypeInvalid")]),
    ("map-value-type", {"labels": {"a": 1}}, [("spec.labels[a]", "FieldValueTypeInvalid")]),
    ("format", {"when": "yesterday"}, [("spec.when", "FieldValueInvalid")]),
    ("not-nullable", {"name": None}, [("spec.name", "FieldValueTypeInvalid")]),
    ("embedded-needs-kind", {"inner": {"apiVersion": "v1"}}, [("spec.inner.kind", "FieldValueRequired")]),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [c[1:] for c in CUSTOM_CASES], ids=[c[0] for c in CUSTOM_CASES]
)
def test_custom_resource_schema(spec, expected):
    assert fields(validate_custom(WIDGETS, widget(**spec))) == expected


def test_required_property():
    obj = widget()
    del obj["spec"]["size"]
    assert fields(validate_custom(WIDGETS, obj)) == [("spec.size", "FieldValueRequired")]


def test_type_error_message_matches_upstream():
    [cause] = validate_custom(WIDGETS, widget(replicas="string"))
    assert cause.message == 'Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    [cause] = validate_custom(WIDGETS, widget(replicas=11))
    assert cause.message == "Invalid value: 11: spec.replicas in body must be less than or equal to 10"


def test_custom_resource_metadata_is_validated():
    obj = widget()
    obj["metadata"]["name"] = "Bad_Name"
    assert fields(validate(WIDGETS, obj)) == [("metadata.name", "FieldValueInvalid")]
    old = copy.deepcopy(widget())
    new = widget()
    new["metadata"]["namespace"] = "other"
    assert ("metadata.namespace", "FieldValueInvalid") in fields(validate(WIDGETS, new, old))
