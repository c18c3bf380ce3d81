"""apps/v1 validation: selectors, templates, strategies, immutability."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import check, fields, make_workload, resource, template

Obj = dict[str, Any]
KINDS = ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"]


@pytest.mark.parametrize("kind", KINDS)
def test_valid_workloads(kind):
    assert check(resource("apps", "v1", kind), make_workload(kind)) == []


@pytest.mark.parametrize("kind", KINDS)
def test_selector_must_match_template_labels(kind):
    obj = make_workload(kind, template=template(labels={"app": "other"}))
    [cause] = check(resource("apps", "v1", kind), obj)
    assert (cause.field, cause.type) == ("spec.template.metadata.labels", "FieldValueInvalid")
    assert cause.message == (
        'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'
    )


@pytest.mark.parametrize("kind", KINDS)
def test_selector_required(kind):
    obj = make_workload(kind)
    del obj["spec"]["selector"]
    assert fields(check(resource("apps", "v1", kind), obj)) == [("spec.selector", "FieldValueRequired")]


@pytest.mark.parametrize(
    ("kind", "noun"),
    [("Deployment", "deployment"), ("StatefulSet", "statefulset"), ("DaemonSet", "daemonset")],
)
def test_empty_selector_is_invalid(kind, noun):
    obj = make_workload(kind, selector={})
    [cause] = check(resource("apps", "v1", kind), obj)
    assert cause.field == "spec.selector" and cause.message.endswith(f"empty selector is invalid for {noun}")


@pytest.mark.parametrize("kind", KINDS)
def test_template_restart_policy_must_be_always(kind):
    obj = make_workload(kind, template=template(restartPolicy="Never"))
    [cause] = check(resource("apps", "v1", kind), obj)
    assert cause.field == "spec.template.spec.restartPolicy"
    assert cause.message == 'Unsupported value: "Never": supported values: "Always"'


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet"])
def test_selector_is_immutable(kind):
    res = resource("apps", "v1", kind)
    old = make_workload(kind)
    new = make_workload(
        kind,
        selector={"matchLabels": {"app": "web", "tier": "x"}},
        template=template(labels={"app": "web", "tier": "x"}),
    )
    causes = check(res, new, old)
    assert ("spec.selector", "FieldValueInvalid") in fields(causes)
    assert any(c.message.endswith("field is immutable") for c in causes if c.field == "spec.selector")


@pytest.mark.parametrize("kind", KINDS)
def test_template_error_paths_are_nested(kind):
    obj = make_workload(kind, template=template(containers=[{"name": "c"}]))
    assert fields(check(resource("apps", "v1", kind), obj)) == [
        ("spec.template.spec.containers[0].image", "FieldValueRequired")
    ]


DEPLOYMENT = resource("apps", "v1", "Deployment")

DEPLOYMENT_CASES = [
    ("negative-replicas", {"replicas": -1}, [("spec.replicas", "FieldValueInvalid")]),
    (
        "strategy-type",
        {"strategy": {"type": "BlueGreen"}},
        [("spec.strategy.type", "FieldValueNotSupported")],
    ),
    (
        "recreate-with-rolling",
        {"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
        [("spec.strategy.rollingUpdate", "FieldValueForbidden")],
    ),
    (
        "both-zero",
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}},
        [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid")],
    ),
    (
        "bad-percent",
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "abc"}}},
        [("spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid")],
    ),
    (
        "over-100-percent",
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%"}}},
        [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid")],
    ),
    (
        "deadline-not-above-min-ready",
        {"minReadySeconds": 30, "progressDeadlineSeconds": 30},
        [("spec.progressDeadlineSeconds", "FieldValueInvalid")],
    ),
    ("recreate-ok", {"strategy": {"type": "Recreate"}}, []),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [c[1:] for c in DEPLOYMENT_CASES], ids=[c[0] for c in DEPLOYMENT_CASES]
)
def test_deployment_spec(spec, expected):
    assert fields(check(DEPLOYMENT, make_workload("Deployment", **spec))) == expected


def test_zero_surge_and_unavailable_message():
    obj = make_workload(
        "Deployment",
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
    )
    [cause] = check(DEPLOYMENT, obj)
    assert cause.message == "Invalid value: 0: may not be 0 when `maxSurge` is 0"


STATEFUL_SET = resource("apps", "v1", "StatefulSet")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"podManagementPolicy": "Random"}, [("spec.podManagementPolicy", "FieldValueInvalid")]),
        ({"updateStrategy": {"type": "Sometimes"}}, [("spec.updateStrategy", "FieldValueInvalid")]),
        (
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}},
            [("spec.updateStrategy.rollingUpdate.partition", "FieldValueInvalid")],
        ),
        (
            {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep"}},
            [("spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "FieldValueNotSupported")],
        ),
        (
            {"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"accessModes": []}}]},
            [
                ("spec.volumeClaimTemplates[0].spec.accessModes", "FieldValueRequired"),
                ("spec.volumeClaimTemplates[0].spec.resources[storage]", "FieldValueRequired"),
            ],
        ),
    ],
    ids=["pod-management", "update-strategy", "partition", "retention", "claim-template"],
)
def test_stateful_set_spec(spec, expected):
    assert fields(check(STATEFUL_SET, make_workload("StatefulSet", **spec))) == expected


def test_stateful_set_update_allows_only_listed_fields():
    old = make_workload("StatefulSet", serviceName="web")
    assert check(STATEFUL_SET, make_workload("StatefulSet", serviceName="web", replicas=5), old) == []
    [cause] = check(STATEFUL_SET, make_workload("StatefulSet", serviceName="other"), old)
    assert (cause.field, cause.type) == ("spec", "FieldValueForbidden")
    assert cause.message.startswith("Forbidden: updates to statefulset spec for fields other than 'replicas'")


def test_daemon_set_strategy():
    res = resource("apps", "v1", "DaemonSet")
    obj = make_workload("DaemonSet", updateStrategy={"type": "Surge"})
    assert fields(check(res, obj)) == [("spec.updateStrategy.type", "FieldValueNotSupported")]


def test_replication_controller_selector_defaults_from_template():
    res = resource("", "v1", "ReplicationController")
    obj = {"metadata": {"name": "rc", "namespace": "default"}, "spec": {"template": template()}}
    assert check(res, obj) == []
    obj["spec"]["selector"] = {"app": "other"}
    assert fields(check(res, obj)) == [("spec.template.metadata.labels", "FieldValueInvalid")]
