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


def test_eviction_flags_and_file_fields(tmp_path) -> None:
    path = tmp_path / "kubelet.yaml"
    path.write_text(
        "kind: KubeletConfiguration\nevictionHard: {memory.available: 200Mi}\n"
        "evictionSoft: {nodefs.available: 15%}\nevictionSoftGracePeriod: {nodefs.available: 1m30s}\n"
        "evictionPressureTransitionPeriod: 30s\nevictionMaxPodGracePeriod: 20\n"
        "enableDebuggingHandlers: false\n"
    )
    config = parse("--config", str(path), "--eviction-hard", "memory.available<1Gi,pid.available<5%")
    assert config.eviction_hard == {"memory.available": "1Gi", "pid.available": "5%"}
    assert (config.eviction_soft, config.eviction_soft_grace_period) == (
        {"nodefs.available": "15%"},
        {"nodefs.available": 90.0},
    )
    assert (config.eviction_pressure_transition_period, config.eviction_max_pod_grace_period) == (30.0, 20)
    assert config.enable_debugging_handlers is False
    assert (config.node_log_dir, config.container_log_dir) == ("/var/log", "/var/log/containers")


@pytest.mark.parametrize(
    "argv",
    [
        ("--eviction-hard", "memory.available=1Gi"),
        ("--eviction-hard", "memory.avail<1Gi"),
        ("--eviction-soft", "memory.available<1Gi"),
        ("--eviction-soft-grace-period", "memory.available=soon"),
    ],
    ids=["no-operator", "unknown-signal", "soft-without-grace", "bad-duration"],
)
def test_bad_eviction_settings_are_usage_errors(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code != 0
