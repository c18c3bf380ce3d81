"""templates/addons/metrics-server.yaml.j2 renders to valid objects shaped like upstream's components.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import kubernetes_validate
import yaml

from kubeling.api.defaults import apply_defaults
from kubeling.api.resources import Registry
from kubeling.api.validation import validate

TEMPLATE = Path(__file__).resolve().parents[3] / "templates" / "addons" / "metrics-server.yaml.j2"


def render(**values: Any) -> list[dict[str, Any]]:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = environment.from_string(TEMPLATE.read_text()).render(**values)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_every_object_validates() -> None:
    docs = render(image="kubeling/kubeling:0.1.0")
    registry = Registry()
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)  # raises on any schema error
        group, _, version = doc["apiVersion"].rpartition("/")
        resource = registry.by_kind(group, version, doc["kind"])
        if resource is not None:  # kinds the apiserver serves get its own validation too
            obj = yaml.safe_load(yaml.safe_dump(doc))
            apply_defaults(resource, obj)
            assert validate(resource, obj) == [], doc["kind"]


def test_upstream_shape() -> None:
    objects = by_kind(render(image="kubeling/kubeling:0.1.0", metric_resolution="20s"))
    assert set(objects) == {
        ("ServiceAccount", "metrics-server"),
        ("ClusterRole", "system:aggregated-metrics-reader"),
        ("ClusterRole", "system:metrics-server"),
        ("RoleBinding", "metrics-server-auth-reader"),
        ("ClusterRoleBinding", "metrics-server:system:auth-delegator"),
        ("ClusterRoleBinding", "system:metrics-server"),
        ("Service", "metrics-server"),
        ("Deployment", "metrics-server"),
        ("APIService", "v1beta1.metrics.k8s.io"),
    }
    reader = objects[("ClusterRole", "system:aggregated-metrics-reader")]
    for role in ("admin", "edit", "view"):
        assert reader["metadata"]["labels"][f"rbac.authorization.k8s.io/aggregate-to-{role}"] == "true"
    rules = objects[("ClusterRole", "system:metrics-server")]["rules"]
    assert {r for rule in rules for r in rule["resources"]} >= {
        "nodes/metrics",
        "nodes/stats",
        "pods",
        "nodes",
    }
    binding = objects[("RoleBinding", "metrics-server-auth-reader")]
    assert binding["metadata"]["namespace"] == "kube-system"
    assert binding["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    delegator = objects[("ClusterRoleBinding", "metrics-server:system:auth-delegator")]
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    port = objects[("Service", "metrics-server")]["spec"]["ports"][0]
    assert (port["port"], port["targetPort"]) == (443, "https")
    pod = objects[("Deployment", "metrics-server")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "kubeling/kubeling:0.1.0"
    assert container["command"][:2] == ["kubeling", "metrics-server"]
    assert {"--secure-port=4443", "--kubelet-insecure-tls", "--metric-resolution=20s"} <= set(
        container["command"]
    )
    assert container["ports"][0] == {"name": "https", "containerPort": 4443, "protocol": "TCP"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["serviceAccountName"] == "metrics-server"
    spec = objects[("APIService", "v1beta1.metrics.k8s.io")]["spec"]
    assert spec["insecureSkipTLSVerify"] is True
    assert (spec["groupPriorityMinimum"], spec["versionPriority"]) == (100, 100)
    assert spec["service"] == {"name": "metrics-server", "namespace": "kube-system"}


def test_flags_in_the_manifest_parse() -> None:
    from kubeling.cli import build_parser
    from kubeling.metrics.cli import config_from_args

    command = by_kind(render(image="x"))[("Deployment", "metrics-server")]["spec"]["template"]["spec"]
    args = build_parser().parse_args(command["containers"][0]["command"][1:])
    config = config_from_args(args)
    assert config.problems() == []
    assert (config.secure_port, config.kubelet_insecure_tls, config.metric_resolution) == (4443, True, 15.0)
