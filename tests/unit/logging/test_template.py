"""templates/addons/logging.yaml.j2 renders to objects the API accepts, wired to each other."""

from __future__ import annotations

import argparse
from typing import Any

import kubernetes_validate
import yaml

from kubeling.addons import AddonValues, render
from kubeling.api.defaults import apply_defaults
from kubeling.api.resources import Registry
from kubeling.api.validation import validate
from kubeling.logging.cli import register


def docs() -> dict[tuple[str, str], dict[str, Any]]:
    rendered = render(
        "logging", AddonValues(image="kubeling/kubeling:0.1.0", apiserver_url="https://10.0.0.1:6443")
    )
    return {(d["kind"], d["metadata"]["name"]): d for d in rendered}


def test_every_object_validates() -> None:
    registry = Registry()
    for doc in docs().values():
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
        group, _, version = doc["apiVersion"].rpartition("/")
        resource = registry.by_kind(group, version, doc["kind"])
        if resource is not None:
            obj = yaml.safe_load(yaml.safe_dump(doc))
            apply_defaults(resource, obj)
            assert validate(resource, obj) == [], doc["kind"]


def test_apiservice_points_at_the_store_service_and_port() -> None:
    objects = docs()
    apiservice = objects[("APIService", "v1alpha1.logging.kubeling.io")]["spec"]
    service = objects[("Service", "log-store")]["spec"]
    store = objects[("Deployment", "log-store")]["spec"]["template"]["spec"]["containers"][0]
    assert (apiservice["group"], apiservice["version"]) == ("logging.kubeling.io", "v1alpha1")
    assert apiservice["service"] == {"name": "log-store", "namespace": "kube-system"}
    assert service["ports"][0]["targetPort"] == store["ports"][0]["name"] == "https"
    assert "--secure-port=8443" in store["command"] and store["ports"][0]["containerPort"] == 8443


def test_collector_reads_the_node_logs_read_only_and_its_flags_parse() -> None:
    collector = docs()[("DaemonSet", "log-collector")]["spec"]["template"]["spec"]
    [container] = collector["containers"]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts == {
        "/var/log/containers": True,
        "/var/log/pods": True,
        "/var/lib/docker/containers": True,
        "/var/lib/kubeling-log-collector": False,
    }
    assert {"operator": "Exists"} in collector["tolerations"]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(container["command"][1:])
    assert args.positions_file == "/var/lib/kubeling-log-collector/$(NODE_NAME).json"
    store = docs()[("Deployment", "log-store")]["spec"]["template"]["spec"]["containers"][0]
    assert parser.parse_args(store["command"][1:]).retention == 168 * 3600


def test_readers_role_is_aggregated_into_view() -> None:
    role = docs()[("ClusterRole", "system:aggregated-logs-reader")]
    assert role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert role["rules"] == [
        {"apiGroups": ["logging.kubeling.io"], "resources": ["logs"], "verbs": ["get", "list"]}
    ]
