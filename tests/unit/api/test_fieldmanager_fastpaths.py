"""The managedFields fast paths give exactly what the general computation gives."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kubeling.api import schemas
from kubeling.api.fieldmanager import managed, track_update, typed
from kubeling.api.fieldmanager.managed import STRIPPED
from kubeling.api.fieldmanager.updater import root_schema, tracked_managed_fields

POD = schemas.for_kind("", "v1", "Pod")
DEPLOYMENT = schemas.for_kind("apps", "v1", "Deployment")
CONFIGMAP = schemas.for_kind("", "v1", "ConfigMap")
CRD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "blob": {"type": "object", "x-kubernetes-map-type": "atomic"},
            },
        }
    },
}
NOW = "2026-01-01T00:00:00Z"

names = st.sampled_from(["a", "b", "name", "c", "image", "key", "app", "protocol", "containerPort"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["x", "y", "TCP", ""]), st.just(1.5)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)),
    max_leaves=12,
)
containers = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["c1", "c2", "c3"]), "image": st.sampled_from(["nginx", "busybox"])},
        optional={
            "ports": st.lists(
                st.fixed_dictionaries(
                    {"containerPort": st.integers(80, 82)},
                    optional={"protocol": st.sampled_from(["TCP", "UDP"])},
                ),
                max_size=3,
            ),
            "args": st.lists(st.sampled_from(["-a", "-b"]), max_size=3),
            "resources": st.dictionaries(st.sampled_from(["requests", "limits"]), st.just({"cpu": "1"})),
            "extra": values,
        },
    ),
    max_size=3,
)
pods = st.fixed_dictionaries(
    {
        "apiVersion": st.just("v1"),
        "kind": st.just("Pod"),
        "metadata": st.fixed_dictionaries(
            {"name": st.just("p")},
            optional={
                "namespace": st.just("default"),
                "labels": st.dictionaries(names, st.sampled_from(["x", "y"]), max_size=3),
                "annotations": st.dictionaries(names, st.just("v"), max_size=2),
                "finalizers": st.lists(st.sampled_from(["f1", "f2"]), max_size=3),
                "uid": st.just("u"),
                "generateName": st.just("p-"),
            },
        ),
        "spec": st.fixed_dictionaries(
            {"containers": containers},
            optional={
                "nodeSelector": st.dictionaries(names, st.just("v"), max_size=2),
                "tolerations": st.lists(st.dictionaries(names, scalars, max_size=2), max_size=2),
                "volumes": st.lists(st.dictionaries(names, values, max_size=2), max_size=2),
                "hostNetwork": st.booleans(),
                "securityContext": st.just({}),
                "priority": st.none(),
            },
        ),
    },
    optional={"status": st.dictionaries(names, values, max_size=2), "extra": values},
)
free_objects = st.dictionaries(st.sampled_from(["metadata", "spec", "data", "kind", "x"]), values, max_size=4)


def general_added(obj: dict[str, Any], schema: Any) -> Any:
    return typed.compare({}, obj, schemas.resolve(schema)).added


def general_create_fields(obj: dict[str, Any], schema: Any, manager: str = "m") -> list[dict[str, Any]]:
    """The managedFields of a create, by the general comparison with {}."""
    taken = typed.compare({}, obj, root_schema(schema)).changed().difference(STRIPPED)
    if taken.empty():
        return []
    return managed.encode([managed.Entry(manager, managed.UPDATE, "v1", taken, NOW)])


@settings(max_examples=300, deadline=None)
@given(pods)
def test_added_fields_matches_compare_on_pods(pod: dict[str, Any]) -> None:
    assert typed.added_fields(pod, POD) == general_added(pod, POD)
    assert typed.added_fields(pod, root_schema(POD)) == general_added(pod, root_schema(POD))


@settings(max_examples=300, deadline=None)
@given(free_objects, st.sampled_from([None, CONFIGMAP, DEPLOYMENT, CRD_SCHEMA]))
def test_added_fields_matches_compare_on_any_object(obj: dict[str, Any], schema: Any) -> None:
    fast = typed.added_fields(obj, schema)
    if fast is None:
        assert not obj or typed.kind_of(schemas.resolve(schema), obj)[0] is not typed.Kind.MAP
    else:
        assert fast == general_added(obj, schema)


@settings(max_examples=300, deadline=None)
@given(st.one_of(pods, free_objects), st.sampled_from([POD, None, CONFIGMAP, CRD_SCHEMA]))
def test_create_managed_fields_match_the_general_path(obj: dict[str, Any], schema: Any) -> None:
    # The apiserver only tracks objects whose metadata is an object (fields.track checks).
    assume(isinstance(obj.get("metadata", {}), dict))
    fast = tracked_managed_fields(None, obj, manager="m", schema=schema, api_version="v1", now=NOW)
    assert fast == general_create_fields(obj, schema)
    tracked = track_update(None, obj, manager="m", schema=schema, api_version="v1", now=NOW)
    assert tracked["metadata"].get("managedFields", []) == fast


def test_create_with_client_managed_fields_takes_the_general_path() -> None:
    sent = [
        {
            "manager": "other",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}},
        }
    ]
    pod = {"metadata": {"name": "p", "labels": {"a": "x"}, "managedFields": sent}, "spec": {"containers": []}}
    fields = tracked_managed_fields(None, pod, manager="m", schema=POD, api_version="v1", now=NOW)
    tracked = track_update(None, pod, manager="m", schema=POD, api_version="v1", now=NOW)
    assert fields == tracked["metadata"]["managedFields"]
    assert [e["manager"] for e in fields] == ["m"]  # the create changed what "other" claimed
