"""Unknown-field detection (fieldValidation) and pruning."""

from __future__ import annotations

import copy

import pytest

from kubeling.api.validation import prune_unknown, unknown_fields

from .conftest import make_pod, make_workload, resource
from .test_crd import WIDGETS, widget

POD = resource("", "v1", "Pod")
DEPLOYMENT = resource("apps", "v1", "Deployment")


def test_known_fields_are_not_reported():
    assert unknown_fields(POD, make_pod()) == []
    assert unknown_fields(DEPLOYMENT, make_workload("Deployment")) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("spec",), ".spec.foo"),
        (("spec", "containers", 0), ".spec.containers[0].foo"),
        (("metadata",), ".metadata.foo"),
        ((), ".foo"),
    ],
    ids=["spec", "container", "metadata", "root"],
)
def test_unknown_builtin_fields(path, expected):
    pod = make_pod()
    target = pod
    for step in path:
        target = target[step]
    target["foo"] = 1
    assert unknown_fields(POD, pod) == [expected]


def test_maps_and_free_form_fields_are_not_unknown():
    pod = make_pod()
    pod["metadata"]["labels"] = {"anything": "goes"}
    pod["spec"]["nodeSelector"] = {"x": "y"}
    assert unknown_fields(POD, pod) == []
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "r"},
        "revision": 1,
        "data": {"spec": {"whatever": True}},
    }
    assert unknown_fields(resource("apps", "v1", "ControllerRevision"), revision) == []


def test_nested_template_unknown_field():
    deploy = make_workload("Deployment")
    deploy["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert unknown_fields(DEPLOYMENT, deploy) == [".spec.template.spec.containers[0].imagePullPolicyy"]


def test_custom_resource_unknown_fields():
    obj = widget(extra=1, raw={"free": {"form": True}}, inner={"apiVersion": "v1", "kind": "X", "y": 1})
    obj["status"] = {"ready": True, "bogus": 2}
    obj["metadata"]["bogus"] = 1
    assert sorted(unknown_fields(WIDGETS, obj)) == [".metadata.bogus", ".spec.extra", ".status.bogus"]


def test_prune_custom_resource():
    obj = widget(extra=1, raw={"free": 1}, labels={"a": "b"})
    obj["top"] = 1
    prune_unknown(WIDGETS, obj)
    expected = widget(raw={"free": 1}, labels={"a": "b"})
    assert obj == expected


def test_prune_builtin_drops_unknown_fields():
    pod = make_pod()
    clean = copy.deepcopy(pod)
    pod["spec"]["containers"][0]["foo"] = 1
    pod["bar"] = 2
    prune_unknown(POD, pod)
    assert pod == clean
