"""The dashboard addon's manifest."""

from __future__ import annotations

from kubeling.addons import AddonValues, render


def objects() -> dict[str, dict]:
    rendered = render(
        "dashboard", AddonValues(image="kubeling/kubeling:test", apiserver_url="https://10.0.0.1:6443")
    )
    return {obj["kind"]: obj for obj in rendered}


def test_its_own_account_reads_metrics_and_nothing_else() -> None:
    by_kind = objects()
    assert by_kind["ClusterRole"]["rules"] == [
        {"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}
    ]
    binding = by_kind["ClusterRoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kubeling-dashboard", "namespace": "kube-system"}
    ]
    assert binding["roleRef"]["name"] == by_kind["ClusterRole"]["metadata"]["name"]
    assert "Role" not in by_kind and "RoleBinding" not in by_kind


def test_service_has_one_unnamed_port_for_the_service_proxy_default() -> None:
    by_kind = objects()
    (port,) = by_kind["Service"]["spec"]["ports"]
    assert "name" not in port and port["targetPort"] == 9090
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kubeling-dashboard"
    (container,) = pod["containers"]
    assert container["image"] == "kubeling/kubeling:test"
    assert container["command"][:3] == ["kubeling", "dashboard", "--port=9090"]
