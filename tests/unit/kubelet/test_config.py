"""Kubelet flags and the KubeletConfiguration file: defaults < file < flags given."""

from __future__ import annotations

import pytest

from kubeling.cli import build_parser
from kubeling.kubelet.cli import config_from_args
from kubeling.kubelet.config import ConfigFileError, from_file


def parse(*argv: str):
    return config_from_args(build_parser().parse_args(["kubelet", *argv]))


def test_defaults() -> None:
    config = parse("--hostname-override", "Node-A")
    assert config.node_name == "node-a"
    assert (config.root_dir, config.max_pods, config.cluster_domain) == (
        "/var/lib/kubelet",
        110,
        "cluster.local",
    )


def test_flags() -> None:
    config = parse(
        "--cluster-dns", "10.96.0.10",
        "--node-labels", "node-role.kubernetes.io/control-plane=,zone=a",
        "--register-with-taints", "dedicated=infra:NoSchedule,gpu:NoExecute",
        "--max-pods", "30",
        "--node-status-update-frequency", "5s",
    )  # fmt: skip
    assert config.cluster_dns == ["10.96.0.10"]
    assert config.node_labels == {"node-role.kubernetes.io/control-plane": "", "zone": "a"}
    assert config.register_with_taints == [
        {"key": "dedicated", "value": "infra", "effect": "NoSchedule"},
        {"key": "gpu", "effect": "NoExecute"},
    ]
    assert (config.max_pods, config.node_status_update_frequency) == (30, 5.0)


def test_config_file_under_flags(tmp_path) -> None:
    path = tmp_path / "kubelet.yaml"
    path.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        "staticPodPath: /etc/kubernetes/manifests\nclusterDNS: [10.96.0.10]\nmaxPods: 50\n"
        "fileCheckFrequency: 5s\n"
    )
    config = parse("--config", str(path), "--max-pods", "20")
    assert config.pod_manifest_path == "/etc/kubernetes/manifests"
    assert config.cluster_dns == ["10.96.0.10"]
    assert (config.max_pods, config.file_check_frequency) == (20, 5.0)


def test_config_file_refuses_unknown_fields(tmp_path) -> None:
    path = tmp_path / "kubelet.yaml"
    path.write_text("kind: KubeletConfiguration\nnoSuchField: 1\n")
    with pytest.raises(ConfigFileError):
        from_file(path)


def test_bad_taint_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse("--register-with-taints", "x=y:Sometimes")
