"""templates/addons/ingress.yaml.j2: valid objects, wired as the controller expects."""

from __future__ import annotations

from kubeling import addons
from kubeling.api import defaults
from kubeling.api.validation import validate
from kubeling.cli import build_parser
from kubeling.ingress.config import CONTROLLER_CLASS

VALUES = addons.AddonValues(image="kubeling/kubeling:1.2.3", apiserver_url="https://10.0.0.1:6443")


def test_renders_valid_objects() -> None:
    objects = addons.render("ingress", VALUES)
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole", "ClusterRoleBinding", "DaemonSet", "IngressClass",
        "Role", "RoleBinding", "ServiceAccount",
    ]  # fmt: skip
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        resource = addons._REGISTRY.by_kind(group, version, obj["kind"])
        assert resource is not None
        defaults.apply_defaults(resource, obj)
        assert validate(resource, obj) == [], (obj["kind"], obj["metadata"]["name"])


def test_class_is_default_and_daemonset_runs_the_controller_on_host_ports() -> None:
    by_kind = {o["kind"]: o for o in addons.render("ingress", VALUES)}
    ingress_class = by_kind["IngressClass"]
    assert ingress_class["spec"]["controller"] == CONTROLLER_CLASS
    assert ingress_class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"
    pod = by_kind["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    container = pod["containers"][0]
    assert container["image"] == VALUES.image
    assert {p["hostPort"] for p in container["ports"]} == {80, 443, 10254}
    args = build_parser().parse_args(container["command"][1:])
    assert (args.http_port, args.https_port, args.healthz_port) == (80, 443, 10254)
    assert args.controller_class == CONTROLLER_CLASS
