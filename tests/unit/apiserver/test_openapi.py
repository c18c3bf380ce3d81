"""Structure of the published OpenAPI v3 documents (what kubectl relies on)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from kubeling.api.resources import Registry, Resource
from kubeling.apiserver import openapi
from kubeling.apiserver.openapi import OpenAPIPublisher

REGISTRY = Registry()
PUBLISHER = OpenAPIPublisher(REGISTRY)
REF = "#/components/schemas/x.Y"
GROUP_VERSIONS = list(PUBLISHER.index()["paths"])
# Group-versions with at least one patchable resource (the review groups are create-only).
PATCHABLE = [
    path
    for path in GROUP_VERSIONS
    if any(
        "patch" in r.verbs
        for r in REGISTRY.all()
        if path == ("api/" + r.version if not r.group else f"apis/{r.group_version}")
    )
]


def load(path: str, publisher: OpenAPIPublisher = PUBLISHER) -> dict[str, Any]:
    body = publisher.document(path)
    assert body is not None, path
    return orjson.loads(body)


def walk(node: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """(location, key, value) for every key of every object in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield where, key, value
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def make_crd(*, schema: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "crontabs.stable.example.com", "generation": generation},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"kind": "CronTab", "plural": "crontabs", "singular": "crontab"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": schema
                        or {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "cronSpec": {"type": "string"},
                                        "replicas": {"type": "integer"},
                                        "port": {"x-kubernetes-int-or-string": True},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def crontab(crd: dict[str, Any]) -> Resource:
    return Resource(
        group="stable.example.com",
        version="v1",
        kind="CronTab",
        plural="crontabs",
        singular="crontab",
        namespaced=True,
        subresources=("scale", "status"),
        crd=crd,
    )


def test_index_lists_every_group_version_with_its_hash() -> None:
    index = PUBLISHER.index()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/autoscaling/v1", "apis/autoscaling/v2", "apis/batch/v1"} <= set(
        index
    )
    for path, entry in index.items():
        digest = hashlib.sha512(PUBLISHER.document(path) or b"").hexdigest().upper()
        assert entry["serverRelativeURL"] == f"/openapi/v3/{path}?hash={digest}"
        assert PUBLISHER.hash(path) == digest


@pytest.mark.parametrize("path", ["api/v2", "apis/apps/v9", "apis/nope/v1", ""], ids=repr)
def test_unknown_group_version_has_no_document(path: str) -> None:
    assert PUBLISHER.document(path) is None


@pytest.mark.parametrize("path", GROUP_VERSIONS)
def test_document_is_openapi_3_without_json_schema_leftovers(path: str) -> None:
    doc = load(path)
    assert doc["openapi"] == "3.0.0"
    assert doc["info"] == {"title": "Kubernetes", "version": "unversioned"}
    components = doc["components"]["schemas"]
    for where, key, value in walk(doc):
        if where.endswith("/properties"):
            continue  # key is a field name (JSONSchemaProps has a field called "$ref")
        if key == "type":
            assert isinstance(value, str) and value != "null", f"{where}: type {value!r}"
        if key == "$ref":
            assert value.startswith("#/components/schemas/"), f"{where}: {value}"
            assert value.removeprefix("#/components/schemas/") in components, f"{where}: dangling {value}"
        if key == "enum":
            assert None not in value, where


@pytest.mark.parametrize("path", PATCHABLE)
def test_every_patch_operation_is_usable_by_kubectl(path: str) -> None:
    doc = load(path)
    patches = [(p, ops["patch"]) for p, ops in doc["paths"].items() if "patch" in ops]
    assert patches
    for where, op in patches:
        gvk = op["x-kubernetes-group-version-kind"]
        assert set(gvk) == {"group", "kind", "version"}, where
        assert op["x-kubernetes-action"] == "patch"
        names = {(p["name"], p["in"]) for p in op["parameters"]}
        assert ("fieldValidation", "query") in names and ("fieldManager", "query") in names, where
        assert "application/strategic-merge-patch+json" in op["requestBody"]["content"], where


def test_pod_schema() -> None:
    pod = load("api/v1")["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert pod["type"] == "object"
    assert pod["properties"]["apiVersion"] == {
        "description": pod["properties"]["apiVersion"]["description"],
        "type": "string",
    }
    assert "enum" not in pod["properties"]["kind"]
    # A $ref with a description beside it is wrapped in allOf, as upstream publishes it.
    assert pod["properties"]["spec"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]
    assert pod["properties"]["spec"]["description"]


def test_patch_extensions_survive_conversion() -> None:
    schemas = load("api/v1")["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    volumes = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    strategy = load("apis/apps/v1")["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"][
        "properties"
    ]
    assert strategy["strategy"]["x-kubernetes-patch-strategy"] == "retainKeys"


def test_int_or_string_and_quantity_as_upstream_publishes_them() -> None:
    schemas = load("apis/apps/v1")["components"]["schemas"]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    }
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"] == [
        {"type": "string"},
        {"type": "number"},
    ]


@pytest.mark.parametrize(
    ("path", "name", "expected"),
    [
        ("apis/apps/v1", "io.k8s.api.apps.v1.Deployment", gvk("apps", "v1", "Deployment")),
        ("apis/apps/v1", "io.k8s.api.apps.v1.DeploymentList", gvk("apps", "v1", "DeploymentList")),
        ("apis/apps/v1", "io.k8s.api.autoscaling.v1.Scale", gvk("autoscaling", "v1", "Scale")),
        ("api/v1", "io.k8s.api.core.v1.Namespace", gvk("", "v1", "Namespace")),
        (
            "apis/autoscaling/v2",
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
            gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "/" in v else None,
)
def test_top_level_kinds_carry_their_gvk(path: str, name: str, expected: dict[str, str]) -> None:
    schema = load(path)["components"]["schemas"][name]
    assert expected in schema["x-kubernetes-group-version-kind"]


def test_deployment_paths_and_actions() -> None:
    paths = load("apis/apps/v1")["paths"]
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert {m: op["x-kubernetes-action"] for m, op in collection.items() if m != "parameters"} == {
        "get": "list",
        "post": "post",
        "delete": "deletecollection",
    }
    assert {m: op["x-kubernetes-action"] for m, op in item.items() if m != "parameters"} == {
        "get": "get",
        "put": "put",
        "patch": "patch",
        "delete": "delete",
    }
    assert item["get"]["operationId"] == "readAppsV1NamespacedDeployment"
    assert paths["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "kind": "Scale",
        "version": "v1",
    }
    status = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]["put"]
    assert status["x-kubernetes-group-version-kind"]["kind"] == "Deployment"


def test_verbs_limit_operations() -> None:
    paths = load("api/v1")["paths"]
    # Bindings can only be created; namespaces have no deletecollection; nodes are cluster-scoped.
    assert set(paths["/api/v1/namespaces/{namespace}/bindings"]) == {"post", "parameters"}
    assert "/api/v1/namespaces/{namespace}/bindings/{name}" not in paths
    assert "delete" not in paths["/api/v1/namespaces"]
    assert "/api/v1/nodes/{name}" in paths and "/api/v1/namespaces/{namespace}/nodes" not in paths


def test_documents_are_cached_until_the_registry_changes() -> None:
    registry = Registry()
    publisher = OpenAPIPublisher(registry)
    first = publisher.document("apis/apps/v1")
    assert publisher.document("apis/apps/v1") is first
    publisher.invalidate()
    again = publisher.document("apis/apps/v1")
    assert again is not first and again == first


def test_custom_resource_document() -> None:
    registry = Registry()
    publisher = OpenAPIPublisher(registry)
    assert "apis/stable.example.com/v1" not in publisher.index()["paths"]
    registry.add(crontab(make_crd()))
    assert "apis/stable.example.com/v1" in publisher.index()["paths"]
    doc = load("apis/stable.example.com/v1", publisher)
    schemas = doc["components"]["schemas"]
    kind = schemas["com.example.stable.v1.CronTab"]
    assert kind["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    ]
    assert kind["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert kind["properties"]["spec"]["properties"]["port"] == {"x-kubernetes-int-or-string": True}
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    listing = schemas["com.example.stable.v1.CronTabList"]
    assert listing["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/com.example.stable.v1.CronTab"
    }
    item = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
    # kubectl falls back to merge patch when strategic is not offered.
    assert set(item["patch"]["requestBody"]["content"]) == {
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    }
    assert set(item["get"]["responses"]["200"]["content"]) == {"application/json", "application/yaml"}
    for where, key, value in walk(doc):
        if key == "$ref" and not where.endswith("/properties"):
            assert value.removeprefix("#/components/schemas/") in schemas, where


def test_custom_resource_change_is_seen_without_invalidate() -> None:
    registry = Registry()
    publisher = OpenAPIPublisher(registry)
    registry.add(crontab(make_crd()))
    before = publisher.document("apis/stable.example.com/v1")
    wider = {"type": "object", "properties": {"spec": {"type": "object"}, "extra": {"type": "string"}}}
    changed = make_crd(schema=wider, generation=2)
    registry.add(crontab(changed))
    after = load("apis/stable.example.com/v1", publisher)
    assert publisher.document("apis/stable.example.com/v1") != before
    assert "extra" in after["components"]["schemas"]["com.example.stable.v1.CronTab"]["properties"]
    registry.remove(crontab(changed))
    assert publisher.document("apis/stable.example.com/v1") is None


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "string"}),
        ({"type": ["null", "integer"], "format": "int32"}, {"type": "integer", "format": "int32"}),
        ({"$ref": "#/$defs/x.Y"}, {"$ref": REF}),
        ({"$ref": "#/$defs/x.Y", "description": "d"}, {"allOf": [{"$ref": REF}], "description": "d"}),
        (
            {"type": ["array", "null"], "items": {"$ref": "#/$defs/x.Y"}},
            {"type": "array", "items": {"$ref": REF}},
        ),
        (
            {"additionalProperties": {"type": ["null", "string"]}},
            {"additionalProperties": {"type": "string"}},
        ),
        ({"enum": ["a", None]}, {"enum": ["a"]}),
        (
            {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]},
            {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]},
        ),
    ],
    ids=[
        "nullable-string",
        "nullable-int",
        "ref",
        "ref-with-sibling",
        "array-of-ref",
        "map",
        "enum-null",
        "ext",
    ],
)
def test_convert(node: dict[str, Any], expected: dict[str, Any]) -> None:
    assert openapi.convert(node) == expected


def test_custom_schema_name() -> None:
    assert (
        openapi.custom_schema_name("stable.example.com", "v1", "CronTab") == "com.example.stable.v1.CronTab"
    )
