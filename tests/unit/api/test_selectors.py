"""Label and field selectors (kubeling.api.selectors)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.api import errors
from kubeling.api.resources import Registry, Resource
from kubeling.api.selectors import (
    NOTHING,
    FieldRequirement,
    LabelSelector,
    Operator,
    Requirement,
    field_value,
    format_label_selector,
    format_labels,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
)

REGISTRY = Registry()


def resource(group: str, plural: str) -> Resource:
    found = next(r for r in REGISTRY.all() if r.group == group and r.plural == plural)
    return found


def make_pod(
    *,
    name: str = "web",
    namespace: str = "default",
    node: str | None = None,
    phase: str | None = None,
    host_network: bool | None = None,
    pod_ips: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
        "status": {},
    }
    if node is not None:
        pod["spec"]["nodeName"] = node
    if host_network is not None:
        pod["spec"]["hostNetwork"] = host_network
    if phase is not None:
        pod["status"]["phase"] = phase
    if pod_ips is not None:
        pod["status"]["podIPs"] = [{"ip": ip} for ip in pod_ips]
        pod["status"]["podIP"] = pod_ips[0]
    return pod


def make_crd(selectable: list[str]) -> dict[str, Any]:
    return {
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "selectableFields": [{"jsonPath": p} for p in selectable]}],
        }
    }


# -- label selector: parsing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", (Requirement("a", Operator.EQUALS, ("b",)),)),
        ("a==b", (Requirement("a", Operator.DOUBLE_EQUALS, ("b",)),)),
        ("a!=b", (Requirement("a", Operator.NOT_EQUALS, ("b",)),)),
        ("a in (x,y)", (Requirement("a", Operator.IN, ("x", "y")),)),
        ("a notin (y,x)", (Requirement("a", Operator.NOT_IN, ("x", "y")),)),
        ("a", (Requirement("a", Operator.EXISTS),)),
        ("!a", (Requirement("a", Operator.DOES_NOT_EXIST),)),
        ("a>3", (Requirement("a", Operator.GREATER_THAN, ("3",)),)),
        ("a<3", (Requirement("a", Operator.LESS_THAN, ("3",)),)),
        ("a=", (Requirement("a", Operator.EQUALS, ("",)),)),
        ("a in ()", (Requirement("a", Operator.IN, ("",)),)),
        ("a in (,x)", (Requirement("a", Operator.IN, ("", "x")),)),
        ("a in (in)", (Requirement("a", Operator.IN, ("in",)),)),
        (
            "  z = 1 ,\ta  in ( x , y ) ",
            (Requirement("a", Operator.IN, ("x", "y")), Requirement("z", Operator.EQUALS, ("1",))),
        ),
        ("example.com/tier=web", (Requirement("example.com/tier", Operator.EQUALS, ("web",)),)),
        ("", ()),
    ],
    ids=[
        "equals",
        "double-equals",
        "not-equals",
        "in",
        "notin-sorted",
        "exists",
        "does-not-exist",
        "greater-than",
        "less-than",
        "empty-value",
        "empty-set",
        "leading-comma-in-set",
        "keyword-as-value",
        "whitespace-and-sorted-by-key",
        "prefixed-key",
        "empty-string",
    ],
)
def test_parse_label_selector(text: str, expected: tuple[Requirement, ...]) -> None:
    assert parse_label_selector(text).requirements == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a=b,,c", "found ',', expected: identifier after ','"),
        ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        (
            "a>b",
            'unable to parse requirement: values[0]: Invalid value: "b": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
    ids=[
        "missing-operator",
        "trailing-word",
        "trailing-comma",
        "double-comma",
        "starts-with-paren",
        "not-with-value",
        "in-without-parens",
        "space-in-set",
        "unclosed-set",
        "paren-as-value",
        "gt-not-integer",
    ],
)
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        parse_label_selector(text)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("-a=b", 'unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of'),
        (
            "a/b/c",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist of',
        ),
        ("a=-b", 'unable to parse requirement: values[0][a]: Invalid value: "-b": a valid label must be'),
        ("a=" + "x" * 64, "unable to parse requirement: values[0][a]: Invalid value:"),
    ],
    ids=["bad-key", "two-slashes", "bad-value", "value-too-long"],
)
def test_parse_label_selector_checks_syntax(text: str, prefix: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        parse_label_selector(text)
    assert caught.value.message.startswith(prefix)


# -- label selector: matching -----------------------------------------------------------

LABELS = {"app": "web", "tier": "front", "version": "7"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", LABELS, True),
        ("app=db", LABELS, False),
        ("app!=db", LABELS, True),
        ("missing!=x", LABELS, True),
        ("app in (db,web)", LABELS, True),
        ("missing in (x)", LABELS, False),
        ("app notin (web)", LABELS, False),
        ("missing notin (x)", LABELS, True),
        ("tier", LABELS, True),
        ("!tier", LABELS, False),
        ("!missing", LABELS, True),
        ("version>6", LABELS, True),
        ("version>7", LABELS, False),
        ("version<8", LABELS, True),
        ("app>1", LABELS, False),
        ("app=web,tier=back", LABELS, False),
        ("app=web,tier=front", LABELS, True),
        ("", LABELS, True),
        ("app", None, False),
        ("!app", None, True),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_label_selector_matches(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("b=1,a in (y,x)", "a in (x,y),b=1"),
        ("!a,b", "!a,b"),
        ("a notin (z),c==d,e!=f", "a notin (z),c==d,e!=f"),
        ("a>1,b<2", "a>1,b<2"),
    ],
    ids=["sorted", "exists-forms", "operators", "gt-lt"],
)
def test_label_selector_to_string_round_trips(text: str, expected: str) -> None:
    selector = parse_label_selector(text)
    assert selector.to_string() == expected
    assert parse_label_selector(expected) == selector


# -- label selector: the metav1.LabelSelector form ---------------------------------------------


def test_nil_dict_selector_matches_nothing_and_empty_matches_everything() -> None:
    nothing, everything = label_selector_from_dict(None), label_selector_from_dict({})
    assert nothing is NOTHING
    assert (nothing.empty, nothing.matches({}), nothing.matches(LABELS)) == (False, False, False)
    assert (everything.empty, everything.matches({}), everything.matches(LABELS)) == (True, True, True)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"app": "web"}}, LABELS, True),
        ({"matchLabels": {"app": "web", "tier": "back"}}, LABELS, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "x"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, LABELS, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, LABELS, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, LABELS, False),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "gone", "operator": "DoesNotExist"}],
            },
            LABELS,
            True,
        ),
        ({"matchLabels": {"app": "web"}}, None, False),
    ],
    ids=[
        "match-labels",
        "match-labels-all",
        "in",
        "notin",
        "exists",
        "does-not-exist",
        "combined",
        "no-labels",
    ],
)
def test_dict_selector_matches(
    selector: dict[str, Any], labels: dict[str, str] | None, expected: bool
) -> None:
    assert label_selector_from_dict(selector).matches(labels) is expected


def test_dict_selector_to_string() -> None:
    selector = label_selector_from_dict(
        {
            "matchLabels": {"b": "2"},
            "matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["y", "x"]}],
        }
    )
    assert selector.to_string() == "a notin (x,y),b=2"


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            '"Equals" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
        ),
    ],
    ids=["unknown-operator", "in-without-values", "exists-with-values"],
)
def test_dict_selector_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        label_selector_from_dict(selector)
    assert (caught.value.code, caught.value.message) == (400, message)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchLabels": {"app": "web"}}, "app=web"),
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, "<error>"),
    ],
    ids=["nil", "empty", "labels", "invalid"],
)
def test_format_label_selector(selector: dict[str, Any] | None, expected: str) -> None:
    assert format_label_selector(selector) == expected


def test_format_labels() -> None:
    assert (format_labels({"b": "2", "a": "1"}), format_labels({}), format_labels(None)) == (
        "a=1,b=2",
        "<none>",
        "<none>",
    )


def test_requires_exact_match() -> None:
    selector = parse_label_selector("app=web,tier in (a,b),zone in (z)")
    assert (selector.requires_exact_match("app"), selector.requires_exact_match("tier")) == ("web", None)
    assert (selector.requires_exact_match("zone"), selector.requires_exact_match("nope")) == ("z", None)
    assert LabelSelector().empty


# -- field selectors: parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spec.nodeName=n1", (FieldRequirement("spec.nodeName", "=", "n1"),)),
        ("spec.nodeName==n1", (FieldRequirement("spec.nodeName", "==", "n1"),)),
        ("spec.nodeName!=n1", (FieldRequirement("spec.nodeName", "!=", "n1"),)),
        ("spec.nodeName=", (FieldRequirement("spec.nodeName", "=", ""),)),
        (
            "status.phase=Running,metadata.name=a",
            (FieldRequirement("metadata.name", "=", "a"), FieldRequirement("status.phase", "=", "Running")),
        ),
        (r"metadata.name=a\,b\=c\\d", (FieldRequirement("metadata.name", "=", r"a,b=c\d"),)),
        ("a=b,,", (FieldRequirement("a", "=", "b"),)),
        ("", ()),
    ],
    ids=[
        "equals",
        "double-equals",
        "not-equals",
        "empty-value",
        "and-sorted",
        "escapes",
        "empty-terms",
        "empty",
    ],
)
def test_parse_field_selector(text: str, expected: tuple[FieldRequirement, ...]) -> None:
    assert parse_field_selector(text).requirements == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=b\q", r"invalid field selector: invalid escape sequence: \q"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
    ids=["no-operator", "second-term-no-operator", "unescaped-equals", "bad-escape", "trailing-backslash"],
)
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        parse_field_selector(text)
    assert (caught.value.code, caught.value.message) == (400, message)


def test_field_selector_to_string_escapes_values() -> None:
    selector = parse_field_selector(r"metadata.name!=a\,b,spec.nodeName=n")
    assert selector.to_string() == r"metadata.name!=a\,b,spec.nodeName=n"
    assert (
        selector.requires_exact_match("spec.nodeName"),
        selector.requires_exact_match("metadata.name"),
    ) == ("n", None)


# -- field selectors: values and matching ------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "plural", "obj", "field", "expected"),
    [
        ("", "pods", make_pod(), "metadata.name", "web"),
        ("", "pods", make_pod(), "metadata.namespace", "default"),
        ("", "pods", make_pod(), "spec.nodeName", ""),
        ("", "pods", make_pod(node="n1"), "spec.nodeName", "n1"),
        ("", "pods", make_pod(node="n1"), "spec.host", "n1"),
        ("", "pods", make_pod(), "spec.hostNetwork", "false"),
        ("", "pods", make_pod(host_network=True), "spec.hostNetwork", "true"),
        ("", "pods", make_pod(phase="Running"), "status.phase", "Running"),
        ("", "pods", make_pod(pod_ips=["10.0.0.5", "fd00::5"]), "status.podIP", "10.0.0.5"),
        ("", "pods", make_pod(restartPolicy="Never"), "spec.restartPolicy", "Never"),
        ("", "pods", make_pod(schedulerName="s"), "spec.schedulerName", "s"),
        ("", "pods", make_pod(serviceAccountName="sa"), "spec.serviceAccountName", "sa"),
        ("", "pods", make_pod(), "status.nominatedNodeName", ""),
        ("", "pods", make_pod(), "spec.containers", None),
        (
            "",
            "nodes",
            {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
            "spec.unschedulable",
            "true",
        ),
        ("", "nodes", {"metadata": {"name": "n"}}, "spec.unschedulable", "false"),
        ("", "nodes", {"metadata": {"name": "n"}}, "metadata.namespace", ""),
        ("", "secrets", {"metadata": {"name": "s"}, "type": "Opaque"}, "type", "Opaque"),
        (
            "",
            "namespaces",
            {"metadata": {"name": "x"}, "status": {"phase": "Active"}},
            "status.phase",
            "Active",
        ),
        ("apps", "replicasets", {"metadata": {}, "status": {"replicas": 3}}, "status.replicas", "3"),
        ("apps", "replicasets", {"metadata": {}}, "status.replicas", "0"),
        ("", "replicationcontrollers", {"metadata": {}, "status": {"replicas": 2}}, "status.replicas", "2"),
        ("batch", "jobs", {"metadata": {}, "status": {"succeeded": 1}}, "status.successful", "1"),
        ("", "services", {"metadata": {}, "spec": {"clusterIP": "None"}}, "spec.clusterIP", "None"),
        (
            "certificates.k8s.io",
            "certificatesigningrequests",
            {"metadata": {}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}},
            "spec.signerName",
            "kubernetes.io/kubelet-serving",
        ),
        ("apps", "deployments", {"metadata": {"name": "d"}}, "status.replicas", None),
        ("", "configmaps", {"metadata": {"name": "c"}}, "data", None),
    ],
    ids=[
        "name",
        "namespace",
        "unscheduled-node-is-empty",
        "node-name",
        "spec-host-alias",
        "host-network-default-false",
        "host-network-true",
        "phase",
        "first-pod-ip",
        "restart-policy",
        "scheduler",
        "service-account",
        "nominated-node-empty",
        "pod-unsupported",
        "node-unschedulable",
        "node-schedulable",
        "cluster-scoped-namespace-empty",
        "secret-type",
        "namespace-phase",
        "replicaset-replicas",
        "replicaset-replicas-unset",
        "rc-replicas",
        "job-successful",
        "service-cluster-ip",
        "csr-signer",
        "deployment-unsupported",
        "configmap-unsupported",
    ],
)
def test_field_value(group: str, plural: str, obj: dict[str, Any], field: str, expected: str | None) -> None:
    assert field_value(group, plural, obj, field) == expected


EVENT = {
    "metadata": {"name": "e", "namespace": "default"},
    "involvedObject": {
        "kind": "Pod",
        "name": "web",
        "namespace": "default",
        "uid": "u1",
        "fieldPath": "spec",
    },
    "reason": "Pulled",
    "type": "Normal",
    "source": {"component": "kubelet", "host": "n1"},
    "reportingComponent": "kubelet",
}
EVENT_V1 = {
    "metadata": {"name": "e", "namespace": "default"},
    "regarding": {"kind": "Pod", "name": "web"},
    "reason": "Pulled",
    "type": "Warning",
    "reportingController": "kubelet",
}


EVENT_CASES = [
    ("", EVENT, "involvedObject.kind", "Pod"),
    ("", EVENT, "involvedObject.name", "web"),
    ("", EVENT, "involvedObject.uid", "u1"),
    ("", EVENT, "involvedObject.fieldPath", "spec"),
    ("", EVENT, "involvedObject.resourceVersion", ""),
    ("", EVENT, "reason", "Pulled"),
    ("", EVENT, "source", "kubelet"),
    ("", EVENT, "reportingComponent", "kubelet"),
    ("", EVENT, "type", "Normal"),
    ("events.k8s.io", EVENT_V1, "regarding.kind", "Pod"),
    ("events.k8s.io", EVENT_V1, "reportingController", "kubelet"),
    ("events.k8s.io", EVENT_V1, "type", "Warning"),
    ("events.k8s.io", EVENT_V1, "involvedObject.kind", None),
]


@pytest.mark.parametrize(
    ("group", "obj", "field", "expected"),
    EVENT_CASES,
    ids=[f"{case[0] or 'core'}-{case[2]}" for case in EVENT_CASES],
)
def test_event_field_values(group: str, obj: dict[str, Any], field: str, expected: str | None) -> None:
    assert field_value(group, "events", obj, field) == expected


@pytest.mark.parametrize(
    ("text", "pod", "expected"),
    [
        ("spec.nodeName=n1", make_pod(node="n1"), True),
        ("spec.nodeName=n1", make_pod(node="n2"), False),
        ("spec.nodeName=", make_pod(), True),
        ("spec.nodeName!=", make_pod(), False),
        ("status.phase!=Succeeded,status.phase!=Failed", make_pod(phase="Running"), True),
        ("status.phase!=Succeeded,status.phase!=Failed", make_pod(phase="Failed"), False),
        ("metadata.name=web,metadata.namespace=kube-system", make_pod(), False),
        ("spec.hostNetwork=false", make_pod(), True),
    ],
    ids=[
        "node-equal",
        "node-differs",
        "unscheduled",
        "scheduled-only",
        "not-terminal",
        "terminal",
        "and",
        "host-network",
    ],
)
def test_field_selector_matches_pods(text: str, pod: dict[str, Any], expected: bool) -> None:
    assert parse_field_selector(text).matches("pods", "", pod) is expected


@pytest.mark.parametrize(
    ("group", "plural", "text"),
    [
        ("", "pods", "spec.containers=x"),
        ("", "configmaps", "data=x"),
        ("apps", "deployments", "status.replicas=1"),
        ("", "pods", "status.phase =Running"),
    ],
    ids=["pod-field", "configmap-field", "deployment-field", "space-is-part-of-field"],
)
def test_unsupported_field_is_bad_request(group: str, plural: str, text: str) -> None:
    selector = parse_field_selector(text)
    field = selector.requirements[0].field
    with pytest.raises(errors.StatusError) as caught:
        selector.check_supported(resource(group, plural))
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    assert caught.value.message == f"field label not supported: {field}"
    with pytest.raises(errors.StatusError):
        selector.matches(plural, group, {"metadata": {"name": "x"}})


def test_custom_resources_select_metadata_and_selectable_fields() -> None:
    crd = make_crd([".spec.color", ".spec.size"])
    widgets = Resource("example.com", "v1", "Widget", "widgets", "widget", True, crd=crd)
    widget = {"metadata": {"name": "w", "namespace": "ns"}, "spec": {"color": "red", "size": 3}}
    assert parse_field_selector("spec.color=red,metadata.namespace=ns").matcher(widgets)(widget) is True
    assert parse_field_selector("spec.size=3").matcher(widgets)(widget) is True
    assert parse_field_selector("spec.color=blue").matcher(widgets)(widget) is False
    with pytest.raises(errors.StatusError) as caught:
        parse_field_selector("spec.shape=round").matcher(widgets)
    assert caught.value.message == "field label not supported: spec.shape"
    plain = Resource("example.com", "v1", "Widget", "widgets", "widget", True, crd=make_crd([]))
    with pytest.raises(errors.StatusError):
        parse_field_selector("spec.color=red").matcher(plain)
