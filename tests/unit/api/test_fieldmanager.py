"""Server-side apply and managedFields tracking (kubeling.api.fieldmanager)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeling.api import errors, schemas
from kubeling.api.fieldmanager import (
    FieldSet,
    apply,
    from_fields_v1,
    path_string,
    remove_managed_fields_if_reset,
    to_fields_v1,
    track_update,
    typed,
)
from kubeling.api.fieldmanager import fieldpath as fp

POD = schemas.for_kind("", "v1", "Pod")
DEPLOYMENT = schemas.for_kind("apps", "v1", "Deployment")


def make_pod(
    *,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    finalizers: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    if finalizers is not None:
        meta["finalizers"] = finalizers
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": containers or [], **spec},
    }


def make_deployment(*, replicas: int | None = None, image: str = "nginx") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec}


def pod_apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("force", False)
    return apply(
        live, config, manager=manager, schema=POD, api_version="v1", now="2026-01-01T00:00:00Z", **kw
    )


def pod_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, **kw: Any) -> dict[str, Any]:
    return track_update(
        old, new, manager=manager, schema=POD, api_version="v1", now="2026-01-02T00:00:00Z", **kw
    )


def owners(obj: dict[str, Any]) -> dict[str, list[str]]:
    """manager/operation -> owned paths, as strings."""
    return {
        f"{e['manager']}/{e['operation']}": [path_string(p) for p in from_fields_v1(e["fieldsV1"]).paths()]
        for e in obj["metadata"].get("managedFields", [])
    }


def without_managed(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("managedFields", None)
    return out


def container(name: str, image: str = "busybox", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


# -- FieldsV1 -------------------------------------------------------------------

ROUND_TRIPS = {
    "fields": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}},
    "dot-with-children": {"f:metadata": {"f:labels": {".": {}, "f:a": {}, "f:b": {}}}},
    "keyed-items": {
        "f:spec": {
            "f:containers": {
                'k:{"name":"a"}': {".": {}, "f:image": {}, "f:name": {}},
                'k:{"name":"b"}': {".": {}, "f:name": {}},
            }
        }
    },
    "multi-key": {"f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}},
    "set-values": {"f:finalizers": {"v:3": {}, 'v:"a.io/x"': {}, 'v:"b.io/y"': {}}},
    "indices": {"f:items": {"i:0": {"f:x": {}}, "i:2": {}}},
    "all-kinds-ordered": {"f:a": {}, 'k:{"n":1}': {}, "v:true": {}, "i:1": {}},
}


@pytest.mark.parametrize("document", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_fields_v1_round_trip_keeps_content_and_order(document: dict[str, Any]) -> None:
    assert json.dumps(to_fields_v1(from_fields_v1(document))) == json.dumps(document)


def test_fields_v1_serialises_in_upstream_order() -> None:
    fields = FieldSet.of(
        (fp.index(1),),
        (fp.value("x"),),
        (fp.key({"name": "b"}), fp.field("image")),
        (fp.key({"name": "b"}),),
        (fp.field("z"),),
        (fp.value(2),),
        (fp.field("a"),),
    )
    assert list(to_fields_v1(fields)) == ["f:a", "f:z", 'k:{"name":"b"}', "v:2", 'v:"x"', "i:1"]
    assert to_fields_v1(fields)['k:{"name":"b"}'] == {".": {}, "f:image": {}}


@pytest.mark.parametrize(
    "document",
    [{"x:foo": {}}, {"f:a": []}, {"k:[1]": {}}, {"i:one": {}}, {"v:{bad": {}}, "not-an-object"],
    ids=["unknown-prefix", "non-object-body", "key-not-object", "bad-index", "bad-json", "not-a-dict"],
)
def test_fields_v1_rejects_malformed(document: Any) -> None:
    with pytest.raises(ValueError):
        from_fields_v1(document)


A = (fp.field("a"),)
AB = (fp.field("a"), fp.field("b"))
AC = (fp.field("a"), fp.field("c"))
D = (fp.field("d"),)


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("union", [A, AB], [AC, D], [".a", ".d", ".a.b", ".a.c"]),
        ("intersection", [A, AB, D], [AB, D], [".d", ".a.b"]),
        ("intersection", [AB], [A], []),
        ("difference", [A, AB, D], [A, AC], [".d", ".a.b"]),
        ("difference", [AB], [AB], []),
    ],
    ids=[
        "union",
        "intersection",
        "intersection-member-vs-child",
        "difference-exact-paths",
        "difference-to-empty",
    ],
)
def test_set_operations(op: str, left: list[fp.Path], right: list[fp.Path], expected: list[str]) -> None:
    result = getattr(FieldSet.of(*left), op)(FieldSet.of(*right))
    assert [path_string(p) for p in result.paths()] == expected
    assert result.empty() == (not expected)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((fp.field("spec"), fp.field("replicas")), ".spec.replicas"),
        ((fp.field("c"), fp.key({"name": "a"}), fp.field("image")), '.c[name="a"].image'),
        (
            (fp.field("p"), fp.key({"protocol": "TCP", "containerPort": 80})),
            '.p[containerPort=80,protocol="TCP"]',
        ),
        ((fp.field("f"), fp.value("x")), '.f[="x"]'),
        ((fp.field("l"), fp.index(3)), ".l[3]"),
    ],
    ids=["fields", "key", "multi-key-sorted", "value", "index"],
)
def test_path_string(path: fp.Path, text: str) -> None:
    assert path_string(path) == text


# -- field sets from objects -----------------------------------------------------


def test_field_set_follows_schema_list_and_map_types() -> None:
    pod = make_pod(
        labels={"app": "x"},
        finalizers=["a.io/f"],
        containers=[container("c", args=["1"], ports=[{"containerPort": 80}])],
        nodeSelector={},
    )
    pod["spec"]["affinity"] = {"podAffinity": {}}
    assert to_fields_v1(typed.to_field_set(pod, POD)) == {
        "f:apiVersion": {},
        "f:kind": {},
        "f:metadata": {
            "f:finalizers": {'v:"a.io/f"': {}},
            "f:labels": {"f:app": {}},
            "f:name": {},
            "f:namespace": {},
        },
        "f:spec": {
            "f:affinity": {"f:podAffinity": {}},
            "f:containers": {
                'k:{"name":"c"}': {
                    ".": {},
                    "f:args": {},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }
            },
            "f:nodeSelector": {},
        },
    }


def test_field_set_without_schema_treats_lists_as_atomic_and_keys_as_members() -> None:
    obj = {"spec": {"items": [{"a": 1}], "m": {"k": "v"}}}
    assert to_fields_v1(typed.to_field_set(obj, None)) == {
        "f:spec": {".": {}, "f:items": {}, "f:m": {".": {}, "f:k": {}}}
    }


def test_patch_merge_key_is_used_when_no_list_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "id",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "v": {"type": "string"}},
                },
            },
            "tags": {"type": "array", "x-kubernetes-patch-strategy": "merge", "items": {"type": "string"}},
            "plain": {"type": "array", "items": {"type": "string"}},
            "frozen": {"type": "object", "x-kubernetes-map-type": "atomic"},
        },
    }
    obj = {"items": [{"id": "x", "v": "1"}], "tags": ["t"], "plain": ["p"], "frozen": {"a": 1}}
    assert to_fields_v1(typed.to_field_set(obj, schema)) == {
        "f:frozen": {},
        "f:items": {'k:{"id":"x"}': {".": {}, "f:id": {}, "f:v": {}}},
        "f:plain": {},
        "f:tags": {'v:"t"': {}},
    }


# -- apply ------------------------------------------------------------------------


def test_apply_creates_and_owns_every_field_it_sets() -> None:
    config = make_pod(labels={"app": "x"}, containers=[container("c")])
    obj = pod_apply(None, config, "kubectl")
    assert without_managed(obj) == config
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}}},
            },
        }
    ]


def test_apply_does_not_mutate_inputs() -> None:
    live = pod_apply(None, make_pod(labels={"a": "1", "b": "2"}), "kubectl")
    config = make_pod(labels={"a": "1"})
    live_before, config_before = copy.deepcopy(live), copy.deepcopy(config)
    pod_apply(live, config, "kubectl")
    assert (live, config) == (live_before, config_before)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ({"a": "1", "b": "2"}, {"a": "1"}, {"a": "1"}),
        ({"a": "1", "b": "2"}, {"a": "1", "b": "3"}, {"a": "1", "b": "3"}),
        ({"a": "1"}, None, None),
    ],
    ids=["dropped-label-removed", "changed-label", "all-labels-dropped-removes-map"],
)
def test_reapply_is_the_full_intent(
    first: dict[str, str], second: dict[str, str] | None, expected: dict[str, str] | None
) -> None:
    live = pod_apply(None, make_pod(labels=first), "kubectl")
    live["metadata"]["uid"] = "u1"  # server-owned fields survive pruning
    obj = pod_apply(live, make_pod(labels=second), "kubectl")
    assert obj["metadata"].get("labels") == expected
    assert obj["metadata"]["uid"] == "u1"


def test_reapply_keeps_fields_nobody_owns() -> None:
    live = pod_apply(None, make_pod(containers=[container("c")]), "kubectl")
    live["spec"]["restartPolicy"] = "Always"  # e.g. a default
    live["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    obj = pod_apply(live, make_pod(containers=[container("c", image="nginx")]), "kubectl")
    assert obj["spec"] == {
        "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "IfNotPresent"}],
        "restartPolicy": "Always",
    }


def test_two_managers_share_a_field_set_to_the_same_value() -> None:
    live = pod_apply(None, make_pod(labels={"x": "1", "a": "a"}), "alice")
    live = pod_apply(live, make_pod(labels={"x": "1", "b": "b"}), "bob")
    assert owners(live) == {
        "alice/Apply": [".metadata.labels.a", ".metadata.labels.x"],
        "bob/Apply": [".metadata.labels.b", ".metadata.labels.x"],
    }
    live = pod_apply(live, make_pod(labels={"a": "a"}), "alice")
    assert live["metadata"]["labels"] == {"x": "1", "a": "a", "b": "b"}  # bob still owns x
    live = pod_apply(live, make_pod(labels={"b": "b"}), "bob")
    assert live["metadata"]["labels"] == {"a": "a", "b": "b"}


def test_conflict_with_an_updater_message_and_causes_are_exact() -> None:
    live = apply(
        None,
        make_deployment(replicas=3),
        manager="kubectl",
        schema=DEPLOYMENT,
        force=False,
        api_version="apps/v1",
        now="t1",
    )
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    live = track_update(
        live, scaled, manager="kubectl-client-side-apply", schema=DEPLOYMENT, api_version="apps/v1", now="t2"
    )
    with pytest.raises(errors.StatusError) as info:
        apply(
            live,
            make_deployment(replicas=3),
            manager="kubectl",
            schema=DEPLOYMENT,
            force=False,
            api_version="apps/v1",
            now="t3",
        )
    assert info.value.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
        ".spec.replicas",
        "reason": "Conflict",
        "code": 409,
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
                    "field": ".spec.replicas",
                }
            ]
        },
    }


def test_conflicts_with_several_fields_and_managers_are_grouped_by_manager() -> None:
    live = pod_apply(None, make_pod(labels={"a": "1", "b": "1"}), "zed")
    live = pod_apply(live, make_pod(containers=[container("c")]), "amy")
    with pytest.raises(errors.StatusError) as info:
        pod_apply(live, make_pod(labels={"a": "2", "b": "2"}, containers=[container("c", image="x")]), "me")
    assert info.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "amy":\n'
        '- .spec.containers[name="c"].image\n'
        'conflicts with "zed":\n'
        "- .metadata.labels.a\n"
        "- .metadata.labels.b"
    )
    assert [(c["message"], c["field"]) for c in info.value.details["causes"]] == [
        ('conflict with "amy"', '.spec.containers[name="c"].image'),
        ('conflict with "zed"', ".metadata.labels.a"),
        ('conflict with "zed"', ".metadata.labels.b"),
    ]


def test_conflict_names_the_subresource() -> None:
    live = pod_apply(None, make_pod(labels={"a": "1"}), "kubelet", subresource="status")
    with pytest.raises(errors.StatusError) as info:
        pod_apply(live, make_pod(labels={"a": "2"}), "kubectl")
    assert info.value.details["causes"][0]["message"] == 'conflict with "kubelet" with subresource "status"'


def test_force_takes_ownership() -> None:
    live = pod_apply(None, make_pod(labels={"a": "1", "b": "1"}), "alice")
    obj = pod_apply(live, make_pod(labels={"a": "2"}), "bob", force=True)
    assert obj["metadata"]["labels"] == {"a": "2", "b": "1"}
    assert owners(obj) == {"alice/Apply": [".metadata.labels.b"], "bob/Apply": [".metadata.labels.a"]}


def test_associative_list_items_are_owned_separately() -> None:
    live = pod_apply(None, make_pod(containers=[container("a")]), "alice")
    live = pod_apply(live, make_pod(containers=[container("b")]), "bob")
    assert [c["name"] for c in live["spec"]["containers"]] == ["a", "b"]
    # Alice's re-apply does not mention b: bob's item stays; alice's own change lands.
    live = pod_apply(live, make_pod(containers=[container("a", image="nginx")]), "alice")
    assert live["spec"]["containers"] == [container("a", image="nginx"), container("b")]
    # Alice dropping her container removes it; bob's survives.
    live = pod_apply(live, make_pod(containers=[container("z")]), "alice")
    assert live["spec"]["containers"] == [container("b"), container("z")]


def test_config_item_order_wins_and_live_only_items_keep_their_place() -> None:
    live = pod_apply(None, make_pod(containers=[container("a"), container("x"), container("b")]), "alice")
    live = pod_apply(live, make_pod(containers=[container("x")]), "bob")
    obj = pod_apply(live, make_pod(containers=[container("b"), container("x"), container("a")]), "alice")
    assert [c["name"] for c in obj["spec"]["containers"]] == ["b", "x", "a"]


def test_port_keys_default_protocol_so_reapply_matches_defaulted_live() -> None:
    config = make_pod(containers=[container("c", ports=[{"containerPort": 80}])])
    live = pod_apply(None, config, "kubectl")
    live["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"  # defaulting
    obj = pod_apply(live, config, "kubectl")
    assert obj["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_set_lists_merge_by_value() -> None:
    live = pod_apply(None, make_pod(finalizers=["a.io/x"]), "alice")
    live = pod_apply(live, make_pod(finalizers=["b.io/y"]), "bob")
    assert live["metadata"]["finalizers"] == ["a.io/x", "b.io/y"]
    live = pod_apply(live, make_pod(finalizers=[]), "alice")
    assert live["metadata"]["finalizers"] == ["b.io/y"]
    assert owners(live)["bob/Apply"] == ['.metadata.finalizers[="b.io/y"]']


@pytest.mark.parametrize("force", [False, True], ids=["conflicts", "forced-replaces-whole"])
def test_atomic_lists_are_one_field(force: bool) -> None:
    live = pod_apply(None, make_pod(containers=[container("c", args=["1", "2"])]), "alice")
    config = make_pod(containers=[container("c", args=["3"])])
    if not force:
        with pytest.raises(errors.StatusError) as info:
            pod_apply(live, config, "bob")
        assert info.value.details["causes"][0]["field"] == '.spec.containers[name="c"].args'
        return
    obj = pod_apply(live, config, "bob", force=True)
    assert obj["spec"]["containers"][0]["args"] == ["3"]
    assert '.spec.containers[name="c"].args' not in owners(obj)["alice/Apply"]


def test_apply_to_untracked_object_attributes_existing_fields_to_before_first_apply() -> None:
    live = make_pod(labels={"a": "1"})
    with pytest.raises(errors.StatusError) as info:
        pod_apply(live, make_pod(labels={"a": "2"}), "kubectl")
    assert info.value.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .metadata.labels.a'
    )
    obj = pod_apply(live, make_pod(labels={"a": "1", "b": "2"}), "kubectl")
    assert obj["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert owners(obj)["kubectl/Apply"] == [".metadata.labels.a", ".metadata.labels.b"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            make_pod(containers=[container("c"), container("c")]),
            "failed to create typed patch object (/v1, Kind=Pod): "
            '.spec.containers: duplicate entries for key [name="c"]',
        ),
        (
            make_pod(containers=[{"image": "x"}]),
            "failed to create typed patch object (/v1, Kind=Pod): .spec.containers: element 0: "
            'associative list with keys has an element that omits key field "name" '
            "(and doesn't have default value)",
        ),
    ],
    ids=["duplicate-keys", "missing-key"],
)
def test_untrackable_config_is_a_bad_request(config: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.StatusError) as info:
        pod_apply(None, config, "kubectl")
    assert (info.value.code, info.value.message) == (400, message)


def test_config_carrying_managed_fields_is_a_bad_request() -> None:
    config = make_pod()
    config["metadata"]["managedFields"] = [{"manager": "x", "operation": "Apply"}]
    with pytest.raises(errors.StatusError) as info:
        pod_apply(None, config, "kubectl")
    assert info.value.code == 400


def test_noop_reapply_keeps_the_time() -> None:
    live = pod_apply(None, make_pod(labels={"a": "1"}), "kubectl")
    obj = apply(
        live,
        make_pod(labels={"a": "1"}),
        manager="kubectl",
        schema=POD,
        force=False,
        api_version="v1",
        now="later",
    )
    assert obj == live


CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "hosts": {"type": "array", "items": {"type": "string"}},
                "routes": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["path"],
                    "items": {"type": "object", "properties": {"path": {"type": "string"}}},
                },
            },
        },
    },
}


@pytest.mark.parametrize("schema", [CRD_SCHEMA, None], ids=["crd-structural-schema", "unknown-schema"])
def test_custom_resources_track_metadata_like_built_ins(schema: dict[str, Any] | None) -> None:
    def widget(finalizer: str, hosts: list[str]) -> dict[str, Any]:
        return {
            "apiVersion": "x.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "finalizers": [finalizer]},
            "spec": {"hosts": hosts},
        }

    def run(live: dict[str, Any] | None, config: dict[str, Any], manager: str) -> dict[str, Any]:
        return apply(
            live, config, manager=manager, schema=schema, force=False, api_version="x.io/v1", now="t"
        )

    live = run(None, widget("a.io/x", ["h1"]), "alice")
    live = run(live, widget("b.io/y", ["h1"]), "bob")
    assert live["metadata"]["finalizers"] == ["a.io/x", "b.io/y"]  # ObjectMeta's set semantics
    with pytest.raises(errors.StatusError):  # hosts has no list type: atomic
        run(live, widget("b.io/y", ["h2"]), "bob")


def test_crd_list_map_keys_are_honoured() -> None:
    def widget(*paths: str) -> dict[str, Any]:
        routes = [{"path": p} for p in paths]
        return {
            "apiVersion": "x.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"routes": routes},
        }

    live = apply(
        None, widget("/a"), manager="alice", schema=CRD_SCHEMA, force=False, api_version="x.io/v1", now="t"
    )
    live = apply(
        live, widget("/b"), manager="bob", schema=CRD_SCHEMA, force=False, api_version="x.io/v1", now="t"
    )
    assert live["spec"]["routes"] == [{"path": "/a"}, {"path": "/b"}]


# -- track_update -----------------------------------------------------------------


def test_create_gives_every_set_field_to_the_updater() -> None:
    obj = pod_update(None, make_pod(labels={"a": "1"}, containers=[container("c")]), "kubectl-create")
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-01-02T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                # Containers that appear are owned as such too (upstream marks the same
                # for fields absent from the zero object, e.g. pointer structs and maps).
                "f:spec": {
                    ".": {},
                    "f:containers": {".": {}, 'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}},
                },
            },
        }
    ]


def test_update_moves_ownership_and_the_applier_then_conflicts() -> None:
    """`kubectl scale` after `kubectl apply --server-side`."""
    live = apply(
        None,
        make_deployment(replicas=3),
        manager="kubectl",
        schema=DEPLOYMENT,
        force=False,
        api_version="apps/v1",
        now="t1",
    )
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    live = track_update(
        live, scaled, manager="kubectl-scale", schema=DEPLOYMENT, api_version="apps/v1", now="t2"
    )
    assert ".spec.replicas" not in owners(live)["kubectl/Apply"]
    assert owners(live)["kubectl-scale/Update"] == [".spec.replicas"]

    def reapply(replicas: int) -> dict[str, Any]:
        return apply(
            live,
            make_deployment(replicas=replicas),
            manager="kubectl",
            schema=DEPLOYMENT,
            force=False,
            api_version="apps/v1",
            now="t3",
        )

    with pytest.raises(errors.StatusError) as info:
        reapply(3)
    assert info.value.details["causes"][0]["message"] == 'conflict with "kubectl-scale" using apps/v1'
    shared = reapply(5)  # the live value: no conflict, ownership shared
    assert ".spec.replicas" in owners(shared)["kubectl/Apply"]
    assert owners(shared)["kubectl-scale/Update"] == [".spec.replicas"]


def test_updates_by_one_manager_merge_into_one_entry_and_removed_fields_leave_all_sets() -> None:
    obj = pod_update(None, make_pod(labels={"a": "1"}), "m")
    obj2 = copy.deepcopy(obj)
    obj2["metadata"]["labels"]["b"] = "2"
    obj2 = pod_update(obj, obj2, "m")
    # Members of a level come before deeper paths, as upstream iterates sets.
    assert owners(obj2) == {
        "m/Update": [
            ".spec",
            ".metadata.labels",
            ".metadata.labels.a",
            ".metadata.labels.b",
            ".spec.containers",
        ]
    }
    obj3 = copy.deepcopy(obj2)
    del obj3["metadata"]["labels"]
    obj3 = pod_update(obj2, obj3, "other")
    assert owners(obj3) == {"m/Update": [".spec", ".spec.containers"]}


def test_update_through_subresource_is_its_own_entry() -> None:
    obj = pod_update(None, make_pod(), "kubectl")
    with_status = copy.deepcopy(obj)
    with_status["status"] = {"phase": "Running"}
    out = pod_update(obj, with_status, "kubelet", subresource="status")
    entry = next(e for e in out["metadata"]["managedFields"] if e["manager"] == "kubelet")
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {".": {}, "f:phase": {}}}


def stored_pod() -> dict[str, Any]:
    return pod_apply(None, make_pod(labels={"a": "1"}), "kubectl")


@pytest.mark.parametrize(
    ("sent", "subresource", "expected_managers"),
    [
        ("absent", "", ["kubectl/Apply", "editor/Update"]),
        ([], "", ["kubectl/Apply", "editor/Update"]),
        ([{}], "", []),
        (
            [
                {
                    "manager": "x",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {}},
                }
            ],
            "",
            ["x/Update", "editor/Update"],
        ),
        ([{"manager": "x", "operation": "Bogus"}], "", ["kubectl/Apply", "editor/Update"]),
        (
            [
                {
                    "manager": "x",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {}},
                }
            ],
            "status",
            ["kubectl/Apply", "editor/Update"],
        ),
    ],
    ids=[
        "absent-keeps",
        "empty-list-keeps",
        "reset-clears",
        "client-replaces",
        "invalid-ignored",
        "subresource-ignores-client",
    ],
)
def test_managed_fields_sent_by_the_client(sent: Any, subresource: str, expected_managers: list[str]) -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["b"] = "2"
    if sent == "absent":
        del new["metadata"]["managedFields"]
    else:
        new["metadata"]["managedFields"] = sent
    out = pod_update(old, new, "editor", subresource=subresource)
    assert list(owners(out)) == expected_managers
    if not expected_managers:
        assert "managedFields" not in out["metadata"]
    assert out["metadata"]["labels"] == {"a": "1", "b": "2"}


def test_remove_managed_fields_if_reset() -> None:
    obj = make_pod()
    obj["metadata"]["managedFields"] = [{}]
    cleared, reset = remove_managed_fields_if_reset(obj)
    assert reset and "managedFields" not in cleared["metadata"]
    assert obj["metadata"]["managedFields"] == [{}]  # input untouched
    kept, reset = remove_managed_fields_if_reset(stored_pod())
    assert not reset and kept["metadata"]["managedFields"]


def test_update_managers_are_capped_into_ancient_changes() -> None:
    obj = track_update(
        None, make_pod(), manager="creator", schema=POD, api_version="v1", now="2025-12-31T00:00:00Z"
    )
    for i in range(11):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("labels", {})[f"l{i}"] = "x"
        obj = track_update(
            obj, new, manager=f"m{i:02}", schema=POD, api_version="v1", now=f"2026-01-01T00:00:{i:02}Z"
        )
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert "ancient-changes" in managers and "creator" not in managers and "m00" not in managers
    ancient = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "ancient-changes")
    assert "f:spec" in ancient["fieldsV1"] and ancient["time"] == "2026-01-01T00:00:01Z"


def test_track_update_does_not_mutate_inputs() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"z": "9"}
    old_before, new_before = copy.deepcopy(old), copy.deepcopy(new)
    out = pod_update(old, new, "editor")
    assert (old, new) == (old_before, new_before)
    assert owners(out) == {"editor/Update": [".metadata.labels.z"]}
