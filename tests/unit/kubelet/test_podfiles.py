"""/etc/hosts and /etc/resolv.conf per pod."""

from __future__ import annotations

import pytest

from kubeling.kubelet.podfiles import dns_config, hosts_file, parse_resolv, resolv_conf, write_pod_files
from tests.unit.kubelet.builders import make_pod

CLUSTER = (
    "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
)
HOST = parse_resolv("nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n")


def test_hosts_with_subdomain_and_aliases() -> None:
    pod = make_pod(
        hostname="box",
        subdomain="sub",
        hostAliases=[{"ip": "192.0.2.9", "hostnames": ["foo.local", "bar.local"]}],
    )
    text = hosts_file(pod, ["10.244.0.5"], "cluster.local")
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert "10.244.0.5\tbox.sub.default.svc.cluster.local\tbox\n" in text
    assert text.endswith("\n# Entries added by HostAliases.\n192.0.2.9\tfoo.local\tbar.local\n")


def test_hosts_plain_and_host_network() -> None:
    assert "10.244.0.5\tweb\n" in hosts_file(make_pod(), ["10.244.0.5"], "cluster.local")
    text = hosts_file(make_pod(hostNetwork=True), [], "cluster.local", "127.0.0.1 localhost\n")
    assert text == "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {},
            CLUSTER + "options ndots:5\n",
        ),
        ({"dnsPolicy": "Default"}, "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n"),
        ({"hostNetwork": True}, "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n"),
        (
            {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"},
            CLUSTER + "options ndots:5\n",
        ),
        (
            {
                "dnsPolicy": "None",
                "dnsConfig": {
                    "nameservers": ["1.2.3.4"],
                    "searches": ["a.example"],
                    "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
                },
            },
            "nameserver 1.2.3.4\nsearch a.example\noptions ndots:2 edns0\n",
        ),
        (
            {"dnsConfig": {"options": [{"name": "ndots", "value": "1"}]}},
            CLUSTER + "options ndots:1\n",
        ),
    ],
    ids=["cluster-first", "default", "host-network", "cluster-first-with-host-net", "none", "merge-options"],
)
def test_resolv_conf(spec: dict, expected: str) -> None:
    assert resolv_conf(dns_config(make_pod(**spec), ["10.96.0.10"], "cluster.local", HOST)) == expected


def test_cluster_first_without_cluster_dns_falls_back_to_host() -> None:
    assert dns_config(make_pod(), [], "cluster.local", HOST).servers == ["192.0.2.53"]


def test_write_pod_files(tmp_path) -> None:
    (tmp_path / "resolv").write_text("nameserver 192.0.2.53\n")
    (tmp_path / "hosts").write_text("")
    hosts, resolv, _ = write_pod_files(
        tmp_path / "pod",
        make_pod(),
        pod_ips=["10.244.0.5"],
        cluster_dns=["10.96.0.10"],
        cluster_domain="cluster.local",
        host_resolv=str(tmp_path / "resolv"),
        host_hosts=str(tmp_path / "hosts"),
    )
    assert "10.244.0.5\tweb" in hosts.read_text()
    assert resolv.read_text().startswith("nameserver 10.96.0.10\n")
