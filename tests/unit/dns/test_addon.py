"""templates/addons/dns.yaml.j2 renders to kubeadm's DNS objects that the apiserver's validation accepts."""

from __future__ import annotations

from kubeling import addons
from kubeling.api import defaults
from kubeling.api.validation import validate
from kubeling.dns.cli import register

VALUES = addons.AddonValues(image="kubeling/kubeling:1.2.3", apiserver_url="https://10.0.0.1:6443")


def _by_kind() -> dict[str, dict]:
    return {obj["kind"]: obj for obj in addons.render("dns", VALUES)}


def test_renders_valid_objects() -> None:
    objects = addons.render("dns", VALUES)
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount",
    ]  # fmt: skip
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        resource = addons._REGISTRY.by_kind(group, version, obj["kind"])
        assert resource is not None
        defaults.apply_defaults(resource, obj)
        assert validate(resource, obj) == [], (obj["kind"], obj["metadata"]["name"])


def test_deployment_and_service_are_shaped_as_kubeadm_names_them() -> None:
    objects = _by_kind()
    deployment, service = objects["Deployment"], objects["Service"]
    assert (deployment["metadata"]["namespace"], deployment["metadata"]["name"]) == ("kube-system", "coredns")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"k8s-app": "kube-dns"}
    assert (pod["priorityClassName"], pod["dnsPolicy"], pod["serviceAccountName"]) == (
        "system-cluster-critical", "Default", "coredns",
    )  # fmt: skip
    container = pod["containers"][0]
    assert container["image"] == "kubeling/kubeling:1.2.3"
    assert container["command"][:2] == ["kubeling", "dns"]
    liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert (liveness["path"], liveness["port"], readiness["path"], readiness["port"]) == (
        "/health",
        8080,
        "/ready",
        8181,
    )
    assert {(p["containerPort"], p["protocol"]) for p in container["ports"]} == {
        (53, "UDP"),
        (53, "TCP"),
        (9153, "TCP"),
    }
    assert (service["metadata"]["name"], service["spec"]["clusterIP"]) == ("kube-dns", "10.96.0.10")
    assert [(p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP"),
    ]  # fmt: skip
    rules = objects["ClusterRole"]["rules"]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "services"), ("", "endpoints"), ("", "pods"), ("", "namespaces")} <= granted
    assert ("discovery.k8s.io", "endpointslices") in granted
    assert all(set(rule["verbs"]) == {"list", "watch"} for rule in rules)


def test_the_container_command_parses_with_the_dns_flags() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    command = _by_kind()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"]
    args = parser.parse_args(command[1:])
    assert (args.port, args.cluster_domain) == (53, "cluster.local")


def test_the_budget_covers_the_deployments_pods_one_at_a_time() -> None:
    objects = {o["kind"]: o for o in addons.render("dns", VALUES)}
    budget, deployment = objects["PodDisruptionBudget"], objects["Deployment"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
