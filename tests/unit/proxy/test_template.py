"""templates/addons/kube-proxy.yaml.j2 renders to valid objects shaped like kubeadm's kube-proxy addon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from kubeling.addons import AddonValues, render
from kubeling.api.defaults import apply_defaults
from kubeling.api.resources import Registry
from kubeling.api.validation import validate
from kubeling.apiserver.authz.bootstrap import bootstrap_objects
from kubeling.cli import build_parser
from kubeling.client.kubeconfig import parse_kubeconfig
from kubeling.proxy.cli import config_from_args

VALUES = AddonValues(
    image="kubeling/kubeling:0.1.0", apiserver_url="https://10.250.0.1:6443", cluster_cidr="10.244.0.0/16"
)


def objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in render("kube-proxy", VALUES)}


def test_every_object_validates() -> None:
    registry = Registry()
    for doc in render("kube-proxy", VALUES):
        kubernetes_validate.validate(doc, "1.37.0", strict=True)  # raises on any schema error
        group, _, version = doc["apiVersion"].rpartition("/")
        resource = registry.by_kind(group, version, doc["kind"])
        assert resource is not None, doc["kind"]
        obj = yaml.safe_load(yaml.safe_dump(doc))
        apply_defaults(resource, obj)
        assert validate(resource, obj) == [], doc["kind"]


def test_kubeadm_shape() -> None:
    found = objects()
    assert set(found) == {
        ("ServiceAccount", "kube-proxy"),
        ("ClusterRoleBinding", "kubeadm:node-proxier"),
        ("ConfigMap", "kube-proxy"),
        ("DaemonSet", "kube-proxy"),
    }
    binding = found[("ClusterRoleBinding", "kubeadm:node-proxier")]
    assert binding["roleRef"]["name"] == "system:node-proxier"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system"}
    ]
    pod = found[("DaemonSet", "kube-proxy")]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["serviceAccountName"] == "kube-proxy"
    container = pod["containers"][0]
    assert container["image"] == "kubeling/kubeling:0.1.0"
    assert container["securityContext"] == {"privileged": True}
    assert container["command"] == [
        "kubeling",
        "proxy",
        "--config=/var/lib/kube-proxy/config.conf",
        "--hostname-override=$(NODE_NAME)",
    ]
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_the_config_map_is_what_kubeling_proxy_reads(tmp_path: Path) -> None:
    data = objects()[("ConfigMap", "kube-proxy")]["data"]
    (tmp_path / "config.conf").write_text(data["config.conf"])
    command = objects()[("DaemonSet", "kube-proxy")]["spec"]["template"]["spec"]["containers"][0]["command"]
    argv = [
        arg.replace("/var/lib/kube-proxy", str(tmp_path)).replace("$(NODE_NAME)", "node-1") for arg in command
    ]
    config = config_from_args(build_parser().parse_args(argv[1:]))
    assert config.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf"
    assert (config.cluster_cidr, config.node_name, config.proxy_mode) == (
        "10.244.0.0/16",
        "node-1",
        "iptables",
    )
    assert (config.healthz_bind_address, config.metrics_bind_address) == ("0.0.0.0:10256", "127.0.0.1:10249")
    client = parse_kubeconfig(yaml.safe_load(data["kubeconfig.conf"]), base=tmp_path)
    assert client.server == "https://10.250.0.1:6443"
    assert client.token_file == "/var/run/secrets/kubernetes.io/serviceaccount/token"


def test_bootstrap_policy_lets_the_proxier_watch_what_it_needs() -> None:
    role = next(
        o
        for o in bootstrap_objects()
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "system:node-proxier"
    )
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for group, resource in (("", "services"), ("discovery.k8s.io", "endpointslices"), ("", "nodes")):
        assert {(group, resource, "list"), (group, resource, "watch")} <= granted, resource
