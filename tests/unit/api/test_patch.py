"""JSON patch, JSON merge patch and strategic merge patch, table-driven.

Strategic cases are shaped like what kubectl sends: ``kubectl apply`` (3-way
patches with ``$setElementOrder``/``$retainKeys``), ``kubectl label``,
``annotate``, ``scale`` and ``patch``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeling.api import errors, patch, schemas
from kubeling.api.resources import Registry

POD = schemas.by_name("io.k8s.api.core.v1.Pod")
DEPLOYMENT = schemas.by_name("io.k8s.api.apps.v1.Deployment")


ROLLING = {"maxSurge": "25%", "maxUnavailable": "25%"}
WEB = 0  # index of the "web" container
LOG = 1


def _names(obj: dict[str, Any]) -> list[str]:
    return [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]


def make_deployment(**spec: Any) -> dict[str, Any]:
    base = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["a/one", "b/two"],
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": ROLLING},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1",
                            "args": ["-a", "-b"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        },
                        {"name": "log", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "x", "operator": "Exists"}],
                    "nodeSelector": {"disk": "ssd", "zone": "a"},
                },
            },
        },
    }
    base["spec"].update(spec)
    return base


# -- JSON patch ---------------------------------------------------------------------------

JSON_PATCH_CASES = [
    ("add-field", {"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
    ("add-replaces-existing-field", {"a": 1}, [{"op": "add", "path": "/a", "value": 3}], {"a": 3}),
    ("add-at-index", {"l": [1, 3]}, [{"op": "add", "path": "/l/1", "value": 2}], {"l": [1, 2, 3]}),
    ("add-append-dash", {"l": [1]}, [{"op": "add", "path": "/l/-", "value": 2}], {"l": [1, 2]}),
    ("add-at-end-index", {"l": [1]}, [{"op": "add", "path": "/l/1", "value": 2}], {"l": [1, 2]}),
    ("add-negative-index", {"l": [1, 3]}, [{"op": "add", "path": "/l/-1", "value": 2}], {"l": [1, 2, 3]}),
    ("add-whole-document", {"a": 1}, [{"op": "add", "path": "", "value": {"z": 0}}], {"z": 0}),
    ("remove-field", {"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}),
    ("remove-index", {"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/0"}], {"l": [2, 3]}),
    ("remove-last-negative", {"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}], {"l": [1, 2]}),
    ("replace-nested", {"m": {"x": 1}}, [{"op": "replace", "path": "/m/x", "value": [1]}], {"m": {"x": [1]}}),
    (
        "replace-index",
        {"l": ["a", "b"]},
        [{"op": "replace", "path": "/l/1", "value": "c"}],
        {"l": ["a", "c"]},
    ),
    (
        "move",
        {"a": {"b": 1}, "c": {}},
        [{"op": "move", "from": "/a/b", "path": "/c/d"}],
        {"a": {}, "c": {"d": 1}},
    ),
    (
        "move-within-list",
        {"l": [1, 2, 3]},
        [{"op": "move", "from": "/l/0", "path": "/l/-"}],
        {"l": [2, 3, 1]},
    ),
    ("copy", {"a": {"b": [1]}}, [{"op": "copy", "from": "/a/b", "path": "/c"}], {"a": {"b": [1]}, "c": [1]}),
    ("test-passes", {"a": {"b": 1}}, [{"op": "test", "path": "/a", "value": {"b": 1.0}}], {"a": {"b": 1}}),
    ("test-missing-equals-null", {"a": 1}, [{"op": "test", "path": "/b", "value": None}], {"a": 1}),
    ("escaped-slash", {"a/b": 1}, [{"op": "replace", "path": "/a~1b", "value": 2}], {"a/b": 2}),
    ("escaped-tilde", {"m~n": 1}, [{"op": "remove", "path": "/m~0n"}], {}),
    (
        "annotation-with-slash",
        {"metadata": {"annotations": {}}},
        [{"op": "add", "path": "/metadata/annotations/example.com~1team", "value": "x"}],
        {"metadata": {"annotations": {"example.com/team": "x"}}},
    ),
    (
        "sequence-sees-earlier-ops",
        {"spec": {"replicas": 1}},
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "test", "path": "/spec/replicas", "value": 3},
        ],
        {"spec": {"replicas": 3}},
    ),
]


@pytest.mark.parametrize(
    ("doc", "ops", "expected"), [c[1:] for c in JSON_PATCH_CASES], ids=[c[0] for c in JSON_PATCH_CASES]
)
def test_json_patch(doc: Any, ops: list[Any], expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert patch.json_patch(doc, ops) == expected
    assert doc == before  # inputs are never mutated


JSON_PATCH_ERRORS = [
    ("remove-missing", {"a": 1}, [{"op": "remove", "path": "/b"}], 422),
    ("replace-missing", {"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], 422),
    ("add-under-missing-parent", {}, [{"op": "add", "path": "/a/b", "value": 1}], 422),
    ("index-out-of-bounds", {"l": [1]}, [{"op": "add", "path": "/l/3", "value": 1}], 422),
    ("index-not-a-number", {"l": [1]}, [{"op": "replace", "path": "/l/x", "value": 1}], 422),
    ("test-fails", {"a": 1}, [{"op": "test", "path": "/a", "value": 2}], 422),
    ("test-bool-is-not-int", {"a": 1}, [{"op": "test", "path": "/a", "value": True}], 422),
    ("unknown-op", {"a": 1}, [{"op": "frobnicate", "path": "/a"}], 422),
    ("path-without-slash", {"a": 1}, [{"op": "remove", "path": "a"}], 422),
    ("add-without-value", {"a": 1}, [{"op": "add", "path": "/b"}], 422),
    ("move-into-own-child", {"a": {"b": {}}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], 422),
    ("operation-not-an-object", {"a": 1}, ["remove /a"], 400),
    ("too-many-operations", {"a": 1}, [{"op": "test", "path": "/a", "value": 1}] * 10001, 413),
]


@pytest.mark.parametrize(
    ("doc", "ops", "code"), [c[1:] for c in JSON_PATCH_ERRORS], ids=[c[0] for c in JSON_PATCH_ERRORS]
)
def test_json_patch_errors(doc: Any, ops: list[Any], code: int) -> None:
    with pytest.raises(errors.StatusError) as caught:
        patch.json_patch(doc, ops)
    assert caught.value.code == code


def test_json_patch_failure_reads_like_upstream() -> None:
    with pytest.raises(errors.StatusError) as caught:
        patch.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert caught.value.reason == "Invalid"
    assert caught.value.message == "the server rejected our request due to an error in our request"
    assert "testing value /a failed" in str(caught.value.__cause__)


def test_json_patch_failure_leaves_input_untouched() -> None:
    doc = {"a": [1, 2]}
    with pytest.raises(errors.StatusError):
        patch.json_patch(doc, [{"op": "remove", "path": "/a/0"}, {"op": "remove", "path": "/missing"}])
    assert doc == {"a": [1, 2]}


# -- JSON merge patch -------------------------------------------------------------------------

MERGE_PATCH_CASES = [
    ("replace-scalar", {"a": "b"}, {"a": "c"}, {"a": "c"}),
    ("add-key", {"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ("null-deletes", {"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ("null-for-missing-key", {"a": 1}, {"z": None}, {"a": 1}),
    ("nested-merge", {"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
    ("nested-null", {"a": {"b": 1, "c": 2}}, {"a": {"c": None}}, {"a": {"b": 1}}),
    ("list-replaced", {"l": [1, 2]}, {"l": [3]}, {"l": [3]}),
    ("list-of-maps-replaced", {"l": [{"n": 1, "x": 1}]}, {"l": [{"n": 1}]}, {"l": [{"n": 1}]}),
    ("object-replaces-scalar", {"a": 1}, {"a": {"b": 2}}, {"a": {"b": 2}}),
    ("new-object-drops-nulls", {}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
    (
        "scale",
        {"spec": {"replicas": 1}, "status": {}},
        {"spec": {"replicas": 5}},
        {"spec": {"replicas": 5}, "status": {}},
    ),
    ("non-object-patch-replaces", {"a": 1}, ["x"], ["x"]),
]


@pytest.mark.parametrize(
    ("doc", "merge", "expected"), [c[1:] for c in MERGE_PATCH_CASES], ids=[c[0] for c in MERGE_PATCH_CASES]
)
def test_merge_patch(doc: Any, merge: Any, expected: Any) -> None:
    before, patch_before = copy.deepcopy(doc), copy.deepcopy(merge)
    assert patch.merge_patch(doc, merge) == expected
    assert doc == before and merge == patch_before


# -- strategic merge patch ---------------------------------------------------------------------


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def _pod_spec(**fields: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": fields}}}


STRATEGIC_CASES: list[tuple[str, dict[str, Any], Any]] = [
    (
        "scale-replicas",
        {"spec": {"replicas": 5}},
        lambda d: d["spec"]["replicas"] == 5 and len(_containers(d)) == 2,
    ),
    (
        "label-add-and-overwrite",
        {"metadata": {"labels": {"tier": "back", "new": "yes"}}},
        lambda d: d["metadata"]["labels"] == {"app": "web", "tier": "back", "new": "yes"},
    ),
    (
        "label-remove-with-null",
        {"metadata": {"labels": {"tier": None}}},
        lambda d: d["metadata"]["labels"] == {"app": "web"},
    ),
    (
        "annotate-new-map",
        {"metadata": {"annotations": {"note": "hi", "gone": None}}},
        lambda d: d["metadata"]["annotations"] == {"note": "hi"},
    ),
    (
        "change-one-container-image",
        _pod_spec(containers=[{"name": "log", "image": "busybox:2"}]),
        lambda d: (
            _containers(d)[LOG] == {"name": "log", "image": "busybox:2"}
            and _containers(d)[WEB]["image"] == "nginx:1"
        ),
    ),
    (
        "add-container-by-name-goes-first-without-order",
        _pod_spec(containers=[{"name": "new", "image": "redis"}]),
        lambda d: [c["name"] for c in _containers(d)] == ["new", "web", "log"],
    ),
    (
        "add-container-with-set-element-order",
        _pod_spec(
            **{
                "$setElementOrder/containers": [{"name": "web"}, {"name": "log"}, {"name": "new"}],
                "containers": [{"name": "new", "image": "redis"}],
            }
        ),
        lambda d: [c["name"] for c in _containers(d)] == ["web", "log", "new"],
    ),
    (
        "reorder-with-set-element-order-only",
        _pod_spec(**{"$setElementOrder/containers": [{"name": "log"}, {"name": "web"}]}),
        lambda d: _names(d) == ["log", "web"] and _containers(d)[1]["image"] == "nginx:1",
    ),
    (
        "remove-env-var-with-patch-delete",
        _pod_spec(containers=[{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]),
        lambda d: _containers(d)[0]["env"] == [{"name": "B", "value": "2"}],
    ),
    (
        "apply-removes-container-and-env",
        _pod_spec(
            **{
                "$setElementOrder/containers": [{"name": "web"}],
                "containers": [
                    {"name": "log", "$patch": "delete"},
                    {
                        "name": "web",
                        "$setElementOrder/env": [{"name": "B"}],
                        "env": [{"name": "A", "$patch": "delete"}],
                    },
                ],
            }
        ),
        lambda d: _names(d) == ["web"] and _containers(d)[WEB]["env"] == [{"name": "B", "value": "2"}],
    ),
    (
        "merge-container-ports-by-container-port",
        _pod_spec(containers=[{"name": "web", "ports": [{"containerPort": 443, "protocol": "TCP"}]}]),
        lambda d: [p["containerPort"] for p in _containers(d)[0]["ports"]] == [443, 80],
    ),
    (
        "non-merge-list-is-replaced",
        _pod_spec(containers=[{"name": "web", "args": ["-c"]}], tolerations=[{"key": "y"}]),
        lambda d: (
            _containers(d)[0]["args"] == ["-c"]
            and d["spec"]["template"]["spec"]["tolerations"] == [{"key": "y"}]
        ),
    ),
    (
        "list-patch-replace-directive",
        _pod_spec(containers=[{"$patch": "replace"}, {"name": "only", "image": "x"}]),
        lambda d: _containers(d) == [{"name": "only", "image": "x"}],
    ),
    (
        "map-patch-replace-directive",
        _pod_spec(nodeSelector={"$patch": "replace", "gpu": "yes"}),
        lambda d: d["spec"]["template"]["spec"]["nodeSelector"] == {"gpu": "yes"},
    ),
    (
        "map-patch-delete-directive",
        _pod_spec(nodeSelector={"$patch": "delete"}),
        lambda d: d["spec"]["template"]["spec"]["nodeSelector"] == {},
    ),
    (
        "map-patch-merge-directive-is-default",
        _pod_spec(nodeSelector={"$patch": "merge", "zone": "b"}),
        lambda d: d["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd", "zone": "b"},
    ),
    (
        "retain-keys-rolling-update-to-recreate",
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        lambda d: d["spec"]["strategy"] == {"type": "Recreate"},
    ),
    (
        "retain-keys-on-volume-source-switch",
        _pod_spec(
            volumes=[{"name": "data", "$retainKeys": ["configMap", "name"], "configMap": {"name": "c"}}]
        ),
        lambda d: d["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "c"}}],
    ),
    (
        "finalizers-are-unioned",
        {"metadata": {"finalizers": ["b/two", "c/three"]}},
        lambda d: d["metadata"]["finalizers"] == ["a/one", "b/two", "c/three"],
    ),
    (
        "delete-from-primitive-list",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/one"]}},
        lambda d: d["metadata"]["finalizers"] == ["b/two"],
    ),
    (
        "delete-from-missing-primitive-list-is-noop",
        {"metadata": {"$deleteFromPrimitiveList/ghosts": ["x"]}},
        lambda d: "ghosts" not in d["metadata"],
    ),
    (
        "primitive-list-with-set-element-order",
        {"metadata": {"$setElementOrder/finalizers": ["b/two", "a/one"]}},
        lambda d: d["metadata"]["finalizers"] == ["b/two", "a/one"],
    ),
    (
        "new-field-keeps-no-directives",
        {
            "spec": {
                "paused": True,
                "minReadySeconds": None,
                "template": {"spec": {"affinity": {"$patch": "replace", "nodeAffinity": {}}}},
            }
        },
        lambda d: (
            d["spec"]["paused"] is True
            and "minReadySeconds" not in d["spec"]
            and d["spec"]["template"]["spec"]["affinity"] == {"nodeAffinity": {}}
        ),
    ),
    (
        "whole-object-replace",
        {"$patch": "replace", "kind": "Deployment"},
        lambda d: d == {"kind": "Deployment"},
    ),
]


@pytest.mark.parametrize(
    ("body", "check"), [c[1:] for c in STRATEGIC_CASES], ids=[c[0] for c in STRATEGIC_CASES]
)
def test_strategic_merge_patch(body: dict[str, Any], check: Any) -> None:
    live = make_deployment()
    before, body_before = copy.deepcopy(live), copy.deepcopy(body)
    result = patch.strategic_merge_patch(live, body, DEPLOYMENT)
    assert check(result), result
    assert live == before and body == body_before
    assert "$" not in repr(result)  # no directive ever lands in the object


def test_strategic_three_way_apply_shape_from_kubectl() -> None:
    """A patch copied from what kubectl apply sends: image change, new sidecar, strategy switch."""
    live = make_deployment()
    sent = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}, {"name": "log"}],
                    "containers": [
                        {"image": "nginx:2", "name": "web"},
                        {"image": "envoy", "name": "sidecar"},
                    ],
                }
            },
        },
    }
    result = patch.strategic_merge_patch(live, sent, DEPLOYMENT)
    assert [(c["name"], c["image"]) for c in _containers(result)] == [
        ("web", "nginx:2"),
        ("sidecar", "envoy"),
        ("log", "busybox"),
    ]
    assert _containers(result)[0]["env"] == live["spec"]["template"]["spec"]["containers"][0]["env"]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "{}"}


def test_server_only_items_keep_their_place() -> None:
    live = {"spec": {"containers": [{"name": n} for n in ("a", "b", "x", "c", "d")]}}
    body = {"spec": {"$setElementOrder/containers": [{"name": n} for n in ("b", "a", "d", "c")]}}
    result = patch.strategic_merge_patch(live, body, POD)
    # "x" exists only on the server: it goes before the first patch item the live object shows after it.
    assert [c["name"] for c in result["spec"]["containers"]] == ["b", "a", "x", "d", "c"]


def test_pod_owner_references_merge_by_uid() -> None:
    live = {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-1"}]}}
    body = {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-2"}, {"uid": "1", "controller": True}]}}
    result = patch.strategic_merge_patch(live, body, POD)
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "2", "name": "rs-2"},
        {"uid": "1", "name": "rs-1", "controller": True},
    ]


def test_without_schema_lists_are_replaced_like_merge_patch() -> None:
    live = {"spec": {"items": [{"name": "a", "v": 1}], "m": {"x": 1}}}
    body = {"spec": {"items": [{"name": "b"}], "m": {"y": 2}}}
    assert patch.strategic_merge_patch(live, body, None) == patch.merge_patch(live, body)


def test_custom_resources_do_not_take_strategic_merge_patch() -> None:
    registry = Registry()
    assert patch.supports_strategic_merge(registry.get("apps", "v1", "deployments"))
    custom = registry.get("apps", "v1", "deployments").__class__(
        group="stable.example.com",
        version="v1",
        kind="CronTab",
        plural="crontabs",
        singular="crontab",
        namespaced=True,
        crd={"spec": {}},
    )
    assert not patch.supports_strategic_merge(custom)


STRATEGIC_ERRORS = [
    (
        "set-element-order-disagrees-with-patch",
        _pod_spec(
            **{
                "$setElementOrder/containers": [{"name": "web"}, {"name": "log"}],
                "containers": [{"name": "log", "image": "a"}, {"name": "web", "image": "b"}],
            }
        ),
        400,
    ),
    ("retain-keys-not-a-list", {"spec": {"strategy": {"$retainKeys": "type", "type": "Recreate"}}}, 400),
    ("retain-keys-misses-patched-key", {"spec": {"strategy": {"$retainKeys": [], "type": "Recreate"}}}, 400),
    ("merge-key-missing", _pod_spec(containers=[{"image": "no-name"}]), 400),
    ("merge-directive-in-list", _pod_spec(containers=[{"$patch": "merge"}]), 400),
    ("unknown-map-directive", {"spec": {"$patch": "explode"}}, 400),
    ("delete-from-primitive-not-list", {"metadata": {"$deleteFromPrimitiveList/finalizers": "a/1"}}, 400),
    ("list-of-lists", {"metadata": {"finalizers": [["x"]]}}, 422),
]


@pytest.mark.parametrize(
    ("body", "code"), [c[1:] for c in STRATEGIC_ERRORS], ids=[c[0] for c in STRATEGIC_ERRORS]
)
def test_strategic_merge_patch_errors(body: dict[str, Any], code: int) -> None:
    with pytest.raises(errors.StatusError) as caught:
        patch.strategic_merge_patch(make_deployment(), body, DEPLOYMENT)
    assert caught.value.code == code
