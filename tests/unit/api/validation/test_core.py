"""core/v1 validation: exact field paths, cause types and upstream messages."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from kubeling.api.validation import validate, validate_status
from kubeling.api.validation.common import QuantityError, parse_quantity

from .conftest import check, container, fields, make_pod, make_service, resource

Obj = dict[str, Any]
POD = resource("", "v1", "Pod")
SERVICE = resource("", "v1", "Service")


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    """A mutation setting a dotted path (list indices as numbers)."""

    def mutate(obj: Obj) -> None:
        *parents, last = path.split(".")
        target: Any = obj
        for part in parents:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def test_valid_pod_has_no_causes():
    assert check(POD, make_pod()) == []


POD_CASES = [
    ("no-containers", _set("spec.containers", []), [("spec.containers", "FieldValueRequired")]),
    (
        "no-image",
        _set("spec.containers.0", {"name": "c"}),
        [("spec.containers[0].image", "FieldValueRequired")],
    ),
    (
        "image-whitespace",
        _set("spec.containers.0.image", " busybox"),
        [("spec.containers[0].image", "FieldValueInvalid")],
    ),
    (
        "bad-container-name",
        _set("spec.containers.0.name", "C_1"),
        [("spec.containers[0].name", "FieldValueInvalid")],
    ),
    (
        "duplicate-container",
        _set("spec.containers", [container(), container()]),
        [("spec.containers[1].name", "FieldValueDuplicate")],
    ),
    (
        "init-and-app-share-name",
        _set("spec.initContainers", [container()]),
        [("spec.containers[0].name", "FieldValueDuplicate")],
    ),
    (
        "restart-policy",
        _set("spec.restartPolicy", "Sometimes"),
        [("spec.restartPolicy", "FieldValueNotSupported")],
    ),
    ("dns-policy", _set("spec.dnsPolicy", "Magic"), [("spec.dnsPolicy", "FieldValueNotSupported")]),
    (
        "port-range",
        _set("spec.containers.0.ports", [{"containerPort": 0}, {"containerPort": 70000}]),
        [
            ("spec.containers[0].ports[0].containerPort", "FieldValueRequired"),
            ("spec.containers[0].ports[1].containerPort", "FieldValueInvalid"),
        ],
    ),
    (
        "port-names",
        _set(
            "spec.containers.0.ports",
            [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}],
        ),
        [("spec.containers[0].ports[1].name", "FieldValueDuplicate")],
    ),
    (
        "port-protocol",
        _set("spec.containers.0.ports", [{"containerPort": 80, "protocol": "ICMP"}]),
        [("spec.containers[0].ports[0].protocol", "FieldValueNotSupported")],
    ),
    (
        "env-name",
        _set("spec.containers.0.env", [{"name": "A=B"}]),
        [("spec.containers[0].env[0].name", "FieldValueInvalid")],
    ),
    (
        "mount-unknown-volume",
        _set("spec.containers.0.volumeMounts", [{"name": "data", "mountPath": "/d"}]),
        [("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound")],
    ),
    (
        "duplicate-volume",
        _set("spec.volumes", [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
        [("spec.volumes[1].name", "FieldValueDuplicate")],
    ),
    (
        "two-volume-sources",
        _set("spec.volumes", [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
        [("spec.volumes[0].hostPath", "FieldValueForbidden")],
    ),
    (
        "request-over-limit",
        _set("spec.containers.0.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}),
        [("spec.containers[0].resources.requests[cpu]", "FieldValueInvalid")],
    ),
    (
        "bad-quantity",
        _set("spec.containers.0.resources", {"requests": {"memory": "12XB"}}),
        [("spec.containers[0].resources.requests[memory]", "FieldValueInvalid")],
    ),
    (
        "deadline",
        _set("spec.activeDeadlineSeconds", 0),
        [("spec.activeDeadlineSeconds", "FieldValueInvalid")],
    ),
    (
        "probe-without-handler",
        _set("spec.containers.0.livenessProbe", {"periodSeconds": 5}),
        [("spec.containers[0].livenessProbe", "FieldValueRequired")],
    ),
    (
        "bad-node-selector",
        _set("spec.nodeSelector", {"-bad": "x"}),
        [("spec.nodeSelector", "FieldValueInvalid")],
    ),
    ("gated", _set("spec.schedulingGates", [{"name": "example.com/quota"}]), []),
    (
        "gate-bad-name",
        _set("spec.schedulingGates", [{"name": "-bad"}]),
        [("spec.schedulingGates[0]", "FieldValueInvalid")],
    ),
    (
        "gate-duplicate",
        _set("spec.schedulingGates", [{"name": "g"}, {"name": "g"}]),
        [("spec.schedulingGates[1]", "FieldValueDuplicate")],
    ),
    (
        "gated-and-bound",
        lambda p: p["spec"].update(nodeName="n1", schedulingGates=[{"name": "g"}]),
        [("spec.nodeName", "FieldValueForbidden")],
    ),
    ("bad-name", _set("metadata.name", "Bad_Name"), [("metadata.name", "FieldValueInvalid")]),
    ("no-namespace", _set("metadata.namespace", ""), [("metadata.namespace", "FieldValueRequired")]),
    (
        "label-value-too-long",
        _set("metadata.labels", {"a": "x" * 64}),
        [("metadata.labels", "FieldValueInvalid")],
    ),
    (
        "annotations-too-big",
        _set("metadata.annotations", {"big": "x" * (256 * 1024)}),
        [("metadata.annotations", "FieldValueTooLong")],
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_create(mutate, expected):
    pod = make_pod()
    mutate(pod)
    assert fields(check(POD, pod)) == expected


def test_messages_match_upstream():
    pod = make_pod(name="Bad")
    pod["spec"]["restartPolicy"] = "Sometimes"
    pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}
    messages = {c.field: c.message for c in check(POD, pod)}
    assert messages["metadata.name"] == (
        'Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
        "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert messages["spec.restartPolicy"] == (
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    )
    assert messages["spec.containers[0].resources.requests[cpu]"] == (
        'Invalid value: "2": must be less than or equal to cpu limit of 500m'
    )


def test_label_key_message_has_upstream_examples():
    pod = make_pod()
    pod["metadata"]["labels"] = {"a b": "x"}
    [cause] = check(POD, pod)
    assert cause.message.startswith('Invalid value: "a b": name part must consist of alphanumeric characters')
    assert "(e.g. 'MyName',  or 'my.name',  or '123-abc'" in cause.message


UPDATE_CASES = [
    ("image-may-change", _set("spec.containers.0.image", "busybox:1.37"), []),
    ("deadline-may-shrink", _set("spec.activeDeadlineSeconds", 10), []),
    ("toleration-added", _set("spec.tolerations", [{"key": "k", "operator": "Exists"}]), []),
    ("restart-policy-fixed", _set("spec.restartPolicy", "Never"), [("spec", "FieldValueForbidden")]),
    (
        "container-added",
        _set("spec.containers", [container(), container("d")]),
        [("spec.containers", "FieldValueForbidden")],
    ),
    ("name-immutable", _set("metadata.name", "q"), [("metadata.name", "FieldValueInvalid")]),
    ("uid-immutable", _set("metadata.uid", "other"), [("metadata.uid", "FieldValueInvalid")]),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES]
)
def test_pod_update(mutate, expected):
    old = make_pod()
    old["spec"]["activeDeadlineSeconds"] = 100
    new = make_pod()
    new["spec"]["activeDeadlineSeconds"] = 100
    mutate(new)
    assert fields(check(POD, new, old)) == expected


GATES = [{"name": "a.example.com/one"}, {"name": "two"}]

GATE_CASES = [
    ("one-removed", {"schedulingGates": GATES}, {"schedulingGates": GATES[1:]}, []),
    ("all-removed", {"schedulingGates": GATES}, {}, []),
    ("reordered", {"schedulingGates": GATES}, {"schedulingGates": GATES[::-1]}, []),
    (
        "one-added",
        {"schedulingGates": GATES[:1]},
        {"schedulingGates": [*GATES[:1], {"name": "new"}]},
        [("spec.schedulingGates[1].name", "FieldValueForbidden")],
    ),
    (
        "added-after-creation",
        {},
        {"schedulingGates": GATES[:1]},
        [("spec.schedulingGates[0].name", "FieldValueForbidden")],
    ),
    (
        "gated-node-selector-added",
        {"schedulingGates": GATES, "nodeSelector": {"a": "b"}},
        {"schedulingGates": GATES, "nodeSelector": {"a": "b", "c": "d"}},
        [],
    ),
    (
        "gated-node-selector-changed",
        {"schedulingGates": GATES, "nodeSelector": {"a": "b"}},
        {"schedulingGates": GATES, "nodeSelector": {"a": "z"}},
        [("spec.nodeSelector", "FieldValueInvalid")],
    ),
    (
        "ungated-node-selector-added",
        {},
        {"nodeSelector": {"a": "b"}},
        [("spec", "FieldValueForbidden")],
    ),
]


@pytest.mark.parametrize(
    ("old_spec", "new_spec", "expected"), [c[1:] for c in GATE_CASES], ids=[c[0] for c in GATE_CASES]
)
def test_pod_update_scheduling_gates(old_spec, new_spec, expected):
    assert fields(check(POD, make_pod(**new_spec), make_pod(**old_spec))) == expected


def test_new_gate_message_matches_upstream():
    [cause] = check(POD, make_pod(schedulingGates=[{"name": "x"}]), make_pod())
    assert cause.message == "Forbidden: only deletion is allowed, but found new scheduling gate 'x'"


def test_pod_update_message_names_the_updatable_fields():
    old, new = make_pod(), make_pod()
    new["spec"]["restartPolicy"] = "Never"
    [cause] = check(POD, new, old)
    assert cause.message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    )
    assert "spec.restartPolicy" in cause.message


SERVICE_CASES = [
    ("valid", lambda s: None, []),
    ("headless-without-ports", lambda s: s["spec"].update(ports=[], clusterIP="None"), []),
    ("no-ports", lambda s: s["spec"].update(ports=[]), [("spec.ports", "FieldValueRequired")]),
    ("bad-name-dns1035", _set("metadata.name", "1svc"), [("metadata.name", "FieldValueInvalid")]),
    ("type", _set("spec.type", "Magic"), [("spec.type", "FieldValueNotSupported")]),
    (
        "port-range",
        _set("spec.ports", [{"port": 70000, "targetPort": 8080}]),
        [("spec.ports[0].port", "FieldValueInvalid")],
    ),
    (
        "protocol",
        _set("spec.ports", [{"port": 80, "protocol": "HTTP"}]),
        [("spec.ports[0].protocol", "FieldValueNotSupported")],
    ),
    (
        "unnamed-ports",
        _set("spec.ports", [{"port": 80}, {"port": 81}]),
        [("spec.ports[0].name", "FieldValueRequired"), ("spec.ports[1].name", "FieldValueRequired")],
    ),
    (
        "node-port-on-cluster-ip",
        _set("spec.ports", [{"port": 80, "nodePort": 30001}]),
        [("spec.ports[0].nodePort", "FieldValueForbidden")],
    ),
    (
        "node-port-ok",
        lambda s: s["spec"].update(type="NodePort", ports=[{"port": 80, "nodePort": 30001}]),
        [],
    ),
    ("cluster-ip", _set("spec.clusterIP", "10.0.0.300"), [("spec.clusterIPs[0]", "FieldValueInvalid")]),
    ("selector", _set("spec.selector", {"app": "-x"}), [("spec.selector", "FieldValueInvalid")]),
    (
        "external-name-required",
        lambda s: s["spec"].update(type="ExternalName"),
        [("spec.externalName", "FieldValueRequired")],
    ),
    (
        "affinity",
        _set("spec.sessionAffinity", "Sticky"),
        [("spec.sessionAffinity", "FieldValueNotSupported")],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_create(mutate, expected):
    svc = make_service()
    mutate(svc)
    assert fields(check(SERVICE, svc)) == expected


def test_service_cluster_ip_is_immutable_once_set():
    old = make_service(clusterIP="10.96.0.10")
    new = make_service(clusterIP="10.96.0.11")
    assert fields(check(SERVICE, new, old)) == [("spec.clusterIPs[0]", "FieldValueInvalid")]
    assert check(SERVICE, make_service(clusterIP="10.96.0.10"), old) == []


CM = resource("", "v1", "ConfigMap")
SECRET = resource("", "v1", "Secret")


def _cm(**extra: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default"},
        **extra,
    }


def _secret(**extra: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, **extra}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


DATA_CASES = [
    ("cm-valid", CM, _cm(data={"a.conf": "x", "B_2": "y"}), []),
    ("cm-bad-key", CM, _cm(data={"a/b": "x"}), [("data[a/b]", "FieldValueInvalid")]),
    ("cm-dotdot-key", CM, _cm(data={"..a": "x"}), [("data[..a]", "FieldValueInvalid")]),
    (
        "cm-dup-binary",
        CM,
        _cm(data={"a": "x"}, binaryData={"a": _b64("y")}),
        [("data[a]", "FieldValueInvalid")],
    ),
    ("cm-too-big", CM, _cm(data={"a": "x" * (1024 * 1024 + 1)}), [("", "FieldValueTooLong")]),
    ("secret-valid", SECRET, _secret(data={"k": _b64("v")}), []),
    ("secret-not-base64", SECRET, _secret(data={"k": "not base64!"}), [("data[k]", "FieldValueInvalid")]),
    (
        "secret-tls-keys",
        SECRET,
        _secret(type="kubernetes.io/tls", data={"tls.crt": _b64("c")}),
        [("data[tls.key]", "FieldValueRequired")],
    ),
    (
        "secret-sa-token-annotation",
        SECRET,
        _secret(type="kubernetes.io/service-account-token"),
        [("metadata.annotations[kubernetes.io/service-account.name]", "FieldValueRequired")],
    ),
]


@pytest.mark.parametrize(
    ("res", "obj", "expected"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES]
)
def test_config_data(res, obj, expected):
    assert fields(check(res, obj)) == expected


@pytest.mark.parametrize(
    ("res", "build"),
    [(CM, lambda d: _cm(immutable=True, data=d)), (SECRET, lambda d: _secret(immutable=True, data=d))],
    ids=["configmap", "secret"],
)
def test_immutable_data_cannot_change(res, build):
    old = build({"k": _b64("a")})
    assert fields(check(res, build({"k": _b64("b")}), old)) == [("data", "FieldValueForbidden")]
    unlocked = build({"k": _b64("a")})
    unlocked["immutable"] = False
    assert fields(check(res, unlocked, old)) == [("immutable", "FieldValueForbidden")]


def test_secret_string_data_is_merged_into_data():
    res = SECRET
    from kubeling.api import defaults

    obj = _secret(stringData={"k": "v"})
    defaults.apply_defaults(res, obj)
    assert obj["data"] == {"k": _b64("v")} and "stringData" not in obj and obj["type"] == "Opaque"


SCOPE_CASES = [
    (
        "namespace-dns-label",
        resource("", "v1", "Namespace"),
        {"metadata": {"name": "a.b"}},
        [("metadata.name", "FieldValueInvalid")],
    ),
    ("namespace-ok", resource("", "v1", "Namespace"), {"metadata": {"name": "team-a"}}, []),
    (
        "cluster-scoped-with-namespace",
        resource("", "v1", "Node"),
        {"metadata": {"name": "n1", "namespace": "x"}},
        [("metadata.namespace", "FieldValueForbidden")],
    ),
    ("node-subdomain-name", resource("", "v1", "Node"), {"metadata": {"name": "node-1.example.com"}}, []),
    ("missing-name", resource("", "v1", "Node"), {"metadata": {}}, [("metadata.name", "FieldValueRequired")]),
]


@pytest.mark.parametrize(
    ("res", "obj", "expected"), [c[1:] for c in SCOPE_CASES], ids=[c[0] for c in SCOPE_CASES]
)
def test_names_and_scope(res, obj, expected):
    assert fields(check(res, obj)) == expected


PVC = resource("", "v1", "PersistentVolumeClaim")


def _pvc(**spec: Any) -> Obj:
    base = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return {"metadata": {"name": "data", "namespace": "default"}, "spec": {**base, **spec}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, []),
        ({"accessModes": []}, [("spec.accessModes", "FieldValueRequired")]),
        ({"accessModes": ["ReadWriteSometimes"]}, [("spec.accessModes", "FieldValueNotSupported")]),
        ({"resources": {}}, [("spec.resources[storage]", "FieldValueRequired")]),
        ({"volumeMode": "Disk"}, [("spec.volumeMode", "FieldValueNotSupported")]),
    ],
    ids=["valid", "no-access-modes", "bad-access-mode", "no-storage", "volume-mode"],
)
def test_pvc_create(spec, expected):
    assert fields(check(PVC, _pvc(**spec))) == expected


def test_pvc_spec_is_immutable_except_requests():
    old = _pvc()
    assert check(PVC, _pvc(resources={"requests": {"storage": "2Gi"}}), old) == []
    assert fields(check(PVC, _pvc(storageClassName="fast"), old)) == [("spec", "FieldValueForbidden")]


NODE = resource("", "v1", "Node")


def _node(**spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": spec}


NODE_CIDR_CASES = [
    ("dual-stack", {"podCIDRs": ["10.0.1.0/24", "fd00::/64"]}, []),
    ("bad-cidr", {"podCIDR": "10.0.1.0"}, [("spec.podCIDRs[0]", "FieldValueInvalid")]),
    (
        "two-of-one-family",
        {"podCIDRs": ["10.0.1.0/24", "10.0.2.0/24"]},
        [("spec.podCIDRs", "FieldValueInvalid")],
    ),
    (
        "duplicate",
        {"podCIDRs": ["fd00::/64", "fd00::/64"]},
        [("spec.podCIDRs", "FieldValueInvalid"), ("spec.podCIDRs[1]", "FieldValueDuplicate")],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [c[1:] for c in NODE_CIDR_CASES], ids=[c[0] for c in NODE_CIDR_CASES]
)
def test_node_pod_cidrs(spec, expected):
    assert fields(check(NODE, _node(**spec))) == expected


def test_node_pod_cidr_is_set_once():
    unset = _node()
    assigned = _node(podCIDR="10.0.1.0/24", podCIDRs=["10.0.1.0/24"])
    assert check(NODE, assigned, unset) == []
    changed = [
        _node(podCIDR="10.0.9.0/24", podCIDRs=["10.0.1.0/24"]),  # the single field alone
        _node(podCIDR="10.0.1.0/24", podCIDRs=["10.0.1.0/24", "fd00::/64"]),
        _node(),
    ]
    for new in changed:
        assert fields(check(NODE, new, assigned)) == [("spec.podCIDRs", "FieldValueForbidden")]


def test_status_update_checks_metadata_and_phase():
    old = make_pod()
    new = make_pod()
    new["metadata"]["uid"] = "other"
    new["status"] = {"phase": "Exploded", "podIPs": [{"ip": "10.0.0.1"}]}
    assert fields(validate_status(POD, new, old)) == [
        ("metadata.uid", "FieldValueInvalid"),
        ("status.phase", "FieldValueNotSupported"),
    ]


def test_binding_refuses_a_gated_pod():
    old = make_pod(schedulingGates=[{"name": "g"}])
    bound = make_pod(schedulingGates=[{"name": "g"}], nodeName="n1")
    assert fields(validate_status(POD, bound, old)) == [("spec.nodeName", "FieldValueForbidden")]
    assert validate_status(POD, make_pod(nodeName="n1"), make_pod()) == []


def test_malformed_fields_never_raise():
    pod = make_pod()
    pod["spec"] = {"containers": "nope", "volumes": [1, None], "restartPolicy": 5}
    causes = validate(POD, pod)
    assert ("spec.containers", "FieldValueRequired") in fields(causes)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", "0.1"),
        ("1", "1"),
        ("1.5Gi", str(3 * 2**29)),
        ("1Ki", "1024"),
        ("2k", "2000"),
        ("1M", "1000000"),
        ("1e3", "1000"),
        ("1E-3", "0.001"),
        ("5n", "0.000000005"),
        ("3u", "0.000003"),
        ("-1", "-1"),
        ("1Ei", str(2**60)),
        (".5", "0.5"),
        (4, "4"),
    ],
)
def test_parse_quantity(text, value):
    from decimal import Decimal

    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "1XB", "1.2.3", "Gi", "1 Gi", "1Gii"])
def test_parse_quantity_rejects(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)
