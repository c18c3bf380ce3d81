"""Defaulting: whole-object comparisons with what upstream stores."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeling.api.defaults import apply_defaults, image_pull_policy

from .conftest import container, defaulted, make_job, make_pod, make_service, make_workload, resource
from .test_crd import WIDGETS

Obj = dict[str, Any]

DEFAULTED_CONTAINER = {
    "name": "c",
    "image": "busybox:1.36",
    "imagePullPolicy": "IfNotPresent",
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}
TEMPLATE_SPEC = {
    "containers": [DEFAULTED_CONTAINER],
    "restartPolicy": "Always",
    "dnsPolicy": "ClusterFirst",
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
    "securityContext": {},
}


def test_pod_defaults():
    pod = defaulted(resource("", "v1", "Pod"), make_pod())
    assert pod["spec"] == {**TEMPLATE_SPEC, "enableServiceLinks": True}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry:5000/busybox", "Always"),
        ("registry:5000/busybox:1", "IfNotPresent"),
        ("busybox@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image, policy):
    assert image_pull_policy(image) == policy


def test_container_details():
    pod = make_pod(
        containers=[
            container(
                ports=[{"containerPort": 80}],
                livenessProbe={"httpGet": {"port": 80}},
                resources={"limits": {"cpu": "1"}},
                env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            )
        ],
        volumes=[
            {"name": "a", "configMap": {"name": "cm"}},
            {"name": "b", "secret": {"secretName": "s"}},
            {"name": "c"},
        ],
    )
    spec = defaulted(resource("", "v1", "Pod"), pod)["spec"]
    c = spec["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert spec["volumes"] == [
        {"name": "a", "configMap": {"name": "cm", "defaultMode": 420}},
        {"name": "b", "secret": {"secretName": "s", "defaultMode": 420}},
        {"name": "c", "emptyDir": {}},
    ]


def test_deployment_defaults():
    deploy = defaulted(resource("apps", "v1", "Deployment"), make_workload("Deployment"))
    spec = deploy["spec"]
    assert spec["template"]["spec"] == TEMPLATE_SPEC
    assert {k: v for k, v in spec.items() if k not in ("template", "selector")} == {
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ReplicaSet", {"replicas": 1}),
        (
            "StatefulSet",
            {
                "replicas": 1,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            },
        ),
        (
            "DaemonSet",
            {
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
                },
                "revisionHistoryLimit": 10,
            },
        ),
    ],
)
def test_workload_defaults(kind, expected):
    spec = defaulted(resource("apps", "v1", kind), make_workload(kind))["spec"]
    assert {k: v for k, v in spec.items() if k not in ("template", "selector")} == expected


@pytest.mark.parametrize(
    ("given", "completions", "parallelism"),
    [({}, 1, 1), ({"completions": 5}, 5, 1), ({"parallelism": 3}, None, 3)],
    ids=["neither", "completions", "parallelism"],
)
def test_job_defaults(given, completions, parallelism):
    spec = defaulted(resource("batch", "v1", "Job"), make_job(**given))["spec"]
    assert spec.get("completions") == completions and spec["parallelism"] == parallelism
    assert spec["backoffLimit"] == 6 and spec["completionMode"] == "NonIndexed" and spec["suspend"] is False


def test_job_template_gets_no_restart_policy():
    job = make_job()
    del job["spec"]["template"]["spec"]["restartPolicy"]
    spec = defaulted(resource("batch", "v1", "Job"), job)["spec"]["template"]["spec"]
    assert "restartPolicy" not in spec and spec["dnsPolicy"] == "ClusterFirst"


def test_cron_job_defaults():
    cj = {"metadata": {"name": "c"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {}}}}
    spec = defaulted(resource("batch", "v1", "CronJob"), cj)["spec"]
    assert (
        spec["concurrencyPolicy"],
        spec["suspend"],
        spec["successfulJobsHistoryLimit"],
        spec["failedJobsHistoryLimit"],
    ) == ("Allow", False, 3, 1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {},
            {
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"],
            },
        ),
        (
            {"type": "NodePort"},
            {
                "type": "NodePort",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "externalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"],
            },
        ),
        (
            {"type": "ExternalName", "externalName": "x.org", "ports": []},
            {"type": "ExternalName", "externalName": "x.org", "sessionAffinity": "None"},
        ),
    ],
    ids=["cluster-ip", "node-port", "external-name"],
)
def test_service_defaults(spec, expected):
    svc = make_service(**spec)
    out = defaulted(resource("", "v1", "Service"), svc)["spec"]
    ports = out.pop("ports")
    out.pop("selector")
    assert out == expected
    assert ports == ([{"port": 80, "protocol": "TCP", "targetPort": 80}] if "ports" not in spec else [])


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        (("", "v1", "Secret"), {"metadata": {"name": "s"}}, {"metadata": {"name": "s"}, "type": "Opaque"}),
        (
            ("", "v1", "Namespace"),
            {"metadata": {"name": "ns"}},
            {
                "metadata": {"name": "ns", "labels": {"kubernetes.io/metadata.name": "ns"}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        ),
        (
            ("", "v1", "PersistentVolumeClaim"),
            {"metadata": {"name": "c"}, "spec": {}},
            {"metadata": {"name": "c"}, "spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}},
        ),
        (
            ("", "v1", "PersistentVolume"),
            {"metadata": {"name": "v"}, "spec": {}},
            {
                "metadata": {"name": "v"},
                "spec": {"persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"},
            },
        ),
        (
            ("storage.k8s.io", "v1", "StorageClass"),
            {"provisioner": "p"},
            {"provisioner": "p", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
        ),
        (
            ("scheduling.k8s.io", "v1", "PriorityClass"),
            {"value": 1},
            {"value": 1, "preemptionPolicy": "PreemptLowerPriority"},
        ),
        (
            ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
            {"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}]},
            {
                "roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"},
                "subjects": [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"}],
            },
        ),
        (
            ("discovery.k8s.io", "v1", "EndpointSlice"),
            {"ports": [{"port": 80}]},
            {"ports": [{"port": 80, "name": "", "protocol": "TCP"}]},
        ),
        (
            ("autoscaling", "v2", "HorizontalPodAutoscaler"),
            {"spec": {"maxReplicas": 3}},
            {
                "spec": {
                    "maxReplicas": 3,
                    "minReplicas": 1,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 80},
                            },
                        }
                    ],
                }
            },
        ),
    ],
    ids=[
        "secret",
        "namespace",
        "pvc",
        "pv",
        "storageclass",
        "priorityclass",
        "rolebinding",
        "endpointslice",
        "hpa",
    ],
)
def test_other_defaults(kind, obj, expected):
    assert defaulted(resource(*kind), obj) == expected


@pytest.mark.parametrize(
    ("res", "obj"),
    [
        (resource("", "v1", "Pod"), make_pod()),
        (resource("apps", "v1", "Deployment"), make_workload("Deployment")),
        (resource("apps", "v1", "StatefulSet"), make_workload("StatefulSet")),
        (resource("batch", "v1", "Job"), make_job()),
        (resource("", "v1", "Service"), make_service()),
    ],
    ids=["pod", "deployment", "statefulset", "job", "service"],
)
def test_defaulting_is_idempotent(res, obj):
    once = defaulted(res, obj)
    twice = copy.deepcopy(once)
    apply_defaults(res, twice)
    assert twice == once


def test_custom_resource_schema_defaults():
    crd = copy.deepcopy(WIDGETS.crd)
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    props["replicas"]["default"] = 1
    props["tags"]["default"] = ["x"]
    from dataclasses import replace

    res = replace(WIDGETS, crd=crd)
    obj: Obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": "small"},
    }
    apply_defaults(res, obj)
    assert obj["spec"] == {"size": "small", "replicas": 1, "tags": ["x"]}
    empty: Obj = {"metadata": {"name": "w"}}
    apply_defaults(res, empty)
    assert empty == {"metadata": {"name": "w"}}  # no spec: nothing to default inside it


NODE_CIDR_CASES = [
    (
        "single-fills-list",
        {"podCIDR": "10.0.1.0/24"},
        {"podCIDR": "10.0.1.0/24", "podCIDRs": ["10.0.1.0/24"]},
    ),
    (
        "list-fills-single",
        {"podCIDRs": ["10.0.1.0/24", "fd00::/64"]},
        {"podCIDR": "10.0.1.0/24", "podCIDRs": ["10.0.1.0/24", "fd00::/64"]},
    ),
    (
        "single-wins-when-they-differ",
        {"podCIDR": "10.0.2.0/24", "podCIDRs": ["10.0.1.0/24", "fd00::/64"]},
        {"podCIDR": "10.0.2.0/24", "podCIDRs": ["10.0.2.0/24"]},
    ),
    ("neither", {}, {}),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [c[1:] for c in NODE_CIDR_CASES], ids=[c[0] for c in NODE_CIDR_CASES]
)
def test_node_pod_cidrs(spec, expected):
    node = defaulted(resource("", "v1", "Node"), {"metadata": {"name": "n1"}, "spec": spec})
    assert node["spec"] == expected
