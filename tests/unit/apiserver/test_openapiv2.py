"""The Swagger 2.0 document of ``/openapi/v2``: schema conversion, what kubectl relies on, negotiation."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from kubeling.api import errors
from kubeling.api.resources import Registry, Resource
from kubeling.apiserver import openapiv2
from kubeling.apiserver.openapi import OpenAPIPublisher
from kubeling.apiserver.openapiv2 import JSON, PROTOBUF, OpenAPIV2Publisher, convert_schema

REGISTRY = Registry()
PUBLISHER = OpenAPIV2Publisher(OpenAPIPublisher(REGISTRY))
DOCUMENT = PUBLISHER.document()
# Keywords of OpenAPI 3 / JSON Schema with no Swagger 2.0 form.
V3_ONLY = ("oneOf", "anyOf", "not", "nullable", "patternProperties", "requestBody", "content", "components")


def walk(node: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """(location, key, value) for every key of every object, skipping field names under properties."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not where.endswith("/properties"):
                yield where, key, value
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def crontab_resource(schema: dict[str, Any]) -> Resource:
    crd = {
        "metadata": {"name": "crontabs.stable.example.com", "generation": 1, "resourceVersion": "7"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"kind": "CronTab", "plural": "crontabs"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        },
    }
    return Resource(
        group="stable.example.com",
        version="v1",
        kind="CronTab",
        plural="crontabs",
        singular="crontab",
        namespaced=True,
        subresources=("status",),
        crd=crd,
    )


# -- schema conversion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v3", "v2"),
    [
        pytest.param(
            {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"},
            {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec"},
            id="ref-rewritten",
        ),
        pytest.param(
            {"allOf": [{"$ref": "#/components/schemas/a.B"}], "description": "the b", "default": {}},
            {"$ref": "#/definitions/a.B", "description": "the b", "default": {}},
            id="lone-allOf-ref-collapses-keeping-siblings",
        ),
        pytest.param(
            {"type": "object", "allOf": [{"required": ["x"]}, {"required": ["y"]}]},
            {"type": "object"},
            id="other-allOf-dropped",
        ),
        pytest.param(
            {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
            {"format": "int-or-string", "type": "string"},
            id="int-or-string",
        ),
        pytest.param({"oneOf": [{"type": "string"}, {"type": "number"}]}, {"type": "string"}, id="quantity"),
        pytest.param(
            {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            {"x-kubernetes-int-or-string": True},
            id="crd-int-or-string-untyped",
        ),
        pytest.param(
            {"type": "object", "nullable": True, "properties": {"a": {"type": "string"}}, "description": "d"},
            {"description": "d"},
            id="nullable-loses-type-and-properties",
        ),
        pytest.param(
            {"type": "array", "nullable": True, "items": {"type": "string"}},
            {},
            id="nullable-array-loses-items",
        ),
        pytest.param(
            {
                "type": "object",
                "required": ["a", "b"],
                "properties": {"a": {"type": "string", "nullable": True}, "b": {"type": "string"}},
            },
            {"type": "object", "required": ["b"], "properties": {"a": {}, "b": {"type": "string"}}},
            id="nullable-property-not-required",
        ),
        pytest.param(
            {
                "type": "object",
                "required": ["a"],
                "additionalProperties": {"type": "string", "nullable": True},
            },
            {"type": "object", "additionalProperties": {}},
            id="nullable-additional-properties-drop-required",
        ),
        pytest.param(
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            id="preserve-unknown-fields-drops-properties",
        ),
        pytest.param(
            {"type": "array", "x-kubernetes-preserve-unknown-fields": True, "items": {"type": "string"}},
            {"x-kubernetes-preserve-unknown-fields": True},
            id="array-without-items-untyped",
        ),
        pytest.param(
            {"type": "object", "additionalProperties": False, "patternProperties": {"^a": {}}},
            {"type": "object", "additionalProperties": False},
            id="bool-additional-properties-kept-pattern-properties-dropped",
        ),
        pytest.param(
            {
                "type": "array",
                "items": {"allOf": [{"$ref": "#/components/schemas/a.B"}], "description": "x"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            {
                "type": "array",
                "items": {"$ref": "#/definitions/a.B", "description": "x"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            id="list-and-patch-extensions-kept",
        ),
        pytest.param(
            {"type": "object", "properties": {"$ref": {"type": "string"}, "nullable": {"type": "boolean"}}},
            {"type": "object", "properties": {"$ref": {"type": "string"}, "nullable": {"type": "boolean"}}},
            id="field-names-are-not-keywords",
        ),
    ],
)
def test_convert_schema(v3: dict[str, Any], v2: dict[str, Any]) -> None:
    before = copy.deepcopy(v3)
    assert convert_schema(v3) == v2
    assert v3 == before  # the v3 document is cached: never changed in place


# -- the whole document ----------------------------------------------------------------------


def test_document_is_swagger_2_with_every_reference_resolvable() -> None:
    assert DOCUMENT["swagger"] == "2.0"
    assert DOCUMENT["info"]["title"] == "Kubernetes"
    definitions = DOCUMENT["definitions"]
    assert len(definitions) > 400
    schemas_and_paths = {"definitions": definitions, "paths": DOCUMENT["paths"]}
    for where, key, value in walk(schemas_and_paths):
        assert key not in V3_ONLY, f"{where}: {key}"
        if key == "$ref":
            # kubectl refuses the whole document over one dangling reference
            assert value.startswith("#/definitions/"), f"{where}: {value}"
            assert value.removeprefix("#/definitions/") in definitions, f"{where}: dangling {value}"
        if key == "type":
            assert value in ("object", "array", "string", "integer", "number", "boolean"), where
        if key == "type" and value == "array":
            assert "items" in _parent(schemas_and_paths, where), f"{where}: array without items"


def _parent(document: dict[str, Any], where: str) -> dict[str, Any]:
    node: Any = document
    for part in where.strip("/").split("/") if where else []:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@pytest.mark.parametrize(
    ("group", "version", "kind", "name"),
    [
        ("", "v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"),
        ("apps", "v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
        ("apps", "v1", "DeploymentList", "io.k8s.api.apps.v1.DeploymentList"),
        ("batch", "v1", "CronJob", "io.k8s.api.batch.v1.CronJob"),
        ("autoscaling", "v2", "HorizontalPodAutoscaler", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"),
    ],
)
def test_kinds_are_found_by_group_version_kind(group: str, version: str, kind: str, name: str) -> None:
    definition = DOCUMENT["definitions"][name]
    assert {"group": group, "kind": kind, "version": version} in definition["x-kubernetes-group-version-kind"]
    assert definition["type"] == "object" and "metadata" in definition["properties"]


def test_patch_merge_keys_reach_v2() -> None:
    containers = DOCUMENT["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    metadata = DOCUMENT["definitions"]["io.k8s.api.apps.v1.Deployment"]["properties"]["metadata"]
    assert metadata["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert metadata["description"]


def test_operations_as_upstream_lays_them_out() -> None:
    item = DOCUMENT["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    assert item["parameters"][0] == {
        "name": "name",
        "in": "path",
        "description": "name of the Deployment",
        "required": True,
        "type": "string",
        "uniqueItems": True,
    }
    patch = item["patch"]
    # kubectl apply takes the patch type of a kind from these
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    body, *query = patch["parameters"]
    assert body == {
        "name": "body",
        "in": "body",
        "required": True,
        "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"},
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= query[2].items()
    assert patch["responses"]["200"] == {
        "description": "OK",
        "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"},
    }
    assert patch["responses"]["401"] == {"description": "Unauthorized"}
    assert "application/json" in patch["produces"]


def test_custom_resources_follow_their_crd() -> None:
    registry = Registry()
    publisher = OpenAPIV2Publisher(OpenAPIPublisher(registry))
    before = publisher.document()
    assert "com.example.stable.v1.CronTab" not in before["definitions"]
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {"size": {"type": "integer"}, "note": {"type": "string", "nullable": True}},
            }
        },
    }
    resource = crontab_resource(schema)
    registry.add(resource)
    after = publisher.document()  # no invalidate(): the v3 hashes changed
    crontab = after["definitions"]["com.example.stable.v1.CronTab"]
    assert crontab["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    ]
    assert crontab["properties"]["spec"]["properties"] == {"size": {"type": "integer"}, "note": {}}
    assert (
        crontab["properties"]["metadata"]["$ref"]
        == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    patch = after["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["consumes"]  # custom resources merge-patch
    registry.remove(resource)
    assert "com.example.stable.v1.CronTab" not in publisher.document()["definitions"]


def test_bodies_are_cached_until_something_changes() -> None:
    registry = Registry()
    publisher = OpenAPIV2Publisher(OpenAPIPublisher(registry))
    first = publisher.served(JSON)
    assert publisher.served(JSON) is first
    assert first.etag.startswith('"') and len(first.etag) == 128 + 2
    proto = publisher.served(PROTOBUF)
    assert proto.etag != first.etag
    resource = crontab_resource({"type": "object"})
    registry.add(resource)
    assert publisher.served(JSON).etag != first.etag
    registry.remove(resource)
    assert publisher.served(JSON).etag == first.etag  # same content, same ETag
    publisher.invalidate()
    assert publisher.served(JSON) is not first


# -- negotiation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        ("*/*", JSON),
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", PROTOBUF),
        ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", PROTOBUF),
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json", PROTOBUF),
        ("application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf", PROTOBUF),
        ("application/xml, application/json;q=0.1", JSON),
        ("application/json;q=0, */*;q=0.2", JSON),
    ],
    ids=repr,
)
def test_negotiate(accept: str | None, chosen: str) -> None:
    assert openapiv2.negotiate(accept) == chosen


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "application/json;q=0"], ids=repr)
def test_negotiate_refuses_what_it_cannot_serve(accept: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        openapiv2.negotiate(accept)
    assert caught.value.code == 406
