"""KubeProxyConfiguration files and flags → ProxyConfig (precedence, validation, clear errors)."""

from __future__ import annotations

import pytest

from kubeling.cli import build_parser
from kubeling.proxy.cli import config_from_args
from kubeling.proxy.config import ConfigError, ProxyConfig

KUBEADM_STYLE = """\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
conntrack:
  maxPerCore: null
detectLocalMode: ClusterCIDR
healthzBindAddress: 0.0.0.0:10256
iptables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 2s
  syncPeriod: 1m
ipvs:
  scheduler: ""
metricsBindAddress: 127.0.0.1:10249
mode: iptables
nodePortAddresses: ["10.0.0.0/8"]
"""


def parse(*argv: str) -> ProxyConfig:
    return config_from_args(build_parser().parse_args(["proxy", *argv]))


def test_defaults_are_upstreams():
    config = parse()
    assert (config.iptables_min_sync_period, config.iptables_sync_period) == (1.0, 30.0)
    assert (config.healthz_bind_address, config.metrics_bind_address) == ("0.0.0.0:10256", "127.0.0.1:10249")
    assert config.masquerade_mark == "0x4000"
    assert not config.masquerade_all and config.nodeport_addresses == []


def test_file_then_flags(tmp_path):
    path = tmp_path / "config.conf"
    path.write_text(KUBEADM_STYLE)
    config = parse("--config", str(path), "--hostname-override=Node-1", "--iptables-sync-period", "45s")
    assert config.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf"
    assert config.cluster_cidr == "10.244.0.0/16"
    assert config.iptables_min_sync_period == 2.0
    assert config.iptables_sync_period == 45.0  # the flag wins
    assert config.nodeport_addresses == ["10.0.0.0/8"]
    assert config.node_name == "node-1"


def test_flags_bind():
    config = parse(
        "--masquerade-all", "--nodeport-addresses", "10.252.0.0/16,127.0.0.0/8", "--cluster-cidr=10.0.0.0/8"
    )
    assert config.masquerade_all and config.nodeport_addresses == ["10.252.0.0/16", "127.0.0.0/8"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--proxy-mode", "ipvs"], "proxy mode 'ipvs' is not supported"),
        (["--cluster-cidr", "10.0.0.0/33"], "not a CIDR"),
        (["--healthz-bind-address", "nowhere"], "not host:port"),
    ],
)
def test_bad_values_are_clear_errors(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse(*argv)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("kind: KubeletConfiguration\n", "kind must be KubeProxyConfiguration"),
        ("apiVersion: kubeproxy.config.k8s.io/v1beta9\n", "apiVersion must be"),
        ("mode: iptables\nbogus: 1\n", "unknown or unsupported field 'bogus'"),
        ("iptables: {syncPeriod: soon}\n", "invalid duration"),
        ("mode: [\n", "not valid YAML"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, document, message):
    path = tmp_path / "config.conf"
    path.write_text(document)
    with pytest.raises(ConfigError, match=message):
        parse("--config", str(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        parse("--config", str(tmp_path / "absent.conf"))


def test_dual_stack_cluster_cidr_keeps_the_ipv4_member():
    assert parse("--cluster-cidr", "fd00:10::/56,10.244.0.0/16").ipv4_cluster_cidr == "10.244.0.0/16"
    assert parse().ipv4_cluster_cidr == ""
