"""The certificate set as data: hosts, endpoints, SANs, identities and renew names."""

from __future__ import annotations

import ipaddress

import pytest

from kubeling.pki import layout
from kubeling.pki.certs import CLIENT_AUTH, SERVER_AUTH
from kubeling.pki.layout import Host, Inventory, Kind

ip = ipaddress.ip_address


def make_inventory(**overrides: object) -> Inventory:
    fields: dict[str, object] = {
        "cluster": "demo",
        "control_planes": (Host("cp1", ip("10.0.0.11")), Host("cp2", ip("10.0.0.12"))),
        "nodes": (Host("w1", ip("10.0.0.21")),),
    }
    fields.update(overrides)
    return Inventory(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cp1=10.0.0.1", Host("cp1", ip("10.0.0.1"))),
        ("node-a.example=fd00::1", Host("node-a.example", ip("fd00::1"))),
        (" w1 = 192.168.1.2 ", Host("w1", ip("192.168.1.2"))),
    ],
    ids=["ipv4", "ipv6-fqdn", "spaces"],
)
def test_parse_host(value: str, expected: Host) -> None:
    assert layout.parse_host(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cp1", "want HOST=IP"),
        ("=10.0.0.1", "want HOST=IP"),
        ("cp1=", "want HOST=IP"),
        ("cp1=10.0.0.300", "invalid IP"),
        ("CP1=10.0.0.1", "invalid host name"),
        ("cp_1=10.0.0.1", "invalid host name"),
    ],
    ids=["no-equals", "no-host", "no-ip", "bad-ip", "uppercase", "underscore"],
)
def test_parse_host_rejects(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layout.parse_host(value)


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("", "https://10.0.0.11:6443"),
        ("k8s.example.com", "https://k8s.example.com:6443"),
        ("k8s.example.com:8443", "https://k8s.example.com:8443"),
        ("10.0.0.100", "https://10.0.0.100:6443"),
        ("fd00::100", "https://[fd00::100]:6443"),
        ("[fd00::100]:7443", "https://[fd00::100]:7443"),
    ],
    ids=["default-first-control-plane", "dns", "dns-port", "ipv4", "ipv6", "ipv6-port"],
)
def test_server_url(endpoint: str, url: str) -> None:
    assert layout.server_url(make_inventory(apiserver_endpoint=endpoint)) == url


@pytest.mark.parametrize(
    "endpoint", ["k8s.example.com:0", "k8s.example.com:http", "[fd00::1", "Bad_Host"], ids=str
)
def test_bad_endpoint_fails_validation(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        make_inventory(apiserver_endpoint=endpoint).validate()


@pytest.mark.parametrize(
    ("cidr", "first"),
    [("10.96.0.0/12", "10.96.0.1"), ("172.20.0.0/16", "172.20.0.1"), ("fd00:10:96::/108", "fd00:10:96::1")],
    ids=["default", "other-v4", "v6"],
)
def test_first_service_ip(cidr: str, first: str) -> None:
    assert layout.first_service_ip(cidr) == ip(first)


@pytest.mark.parametrize(
    "cidr", ["10.96.0.1/12", "nonsense", "10.0.0.0/31"], ids=["host-bits", "garbage", "tiny"]
)
def test_first_service_ip_rejects(cidr: str) -> None:
    with pytest.raises(ValueError, match="service CIDR"):
        layout.first_service_ip(cidr)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"control_planes": ()}, "at least one control-plane"),
        ({"nodes": (Host("cp1", ip("10.0.0.99")),)}, "listed twice"),
        ({"cluster": "bad name"}, "cluster name"),
        ({"cluster_domain": "Cluster.Local"}, "cluster domain"),
    ],
    ids=["no-control-plane", "duplicate-host", "bad-cluster", "bad-domain"],
)
def test_validate_rejects(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_inventory(**overrides).validate()


def test_apiserver_sans() -> None:
    request = layout.apiserver_request(make_inventory(apiserver_endpoint="k8s.example.com:8443"))
    assert set(request.dns_names) == {
        "cp1",
        "cp2",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        "k8s.example.com",
    }
    assert set(request.ip_addresses) == {ip("10.96.0.1"), ip("10.0.0.11"), ip("10.0.0.12"), ip("127.0.0.1")}
    assert request.usages == {SERVER_AUTH}


def test_apiserver_sans_follow_domain_cidr_and_ip_endpoint() -> None:
    inventory = make_inventory(
        service_cidr="172.30.0.0/16", cluster_domain="corp.internal", apiserver_endpoint="192.168.0.10"
    )
    request = layout.apiserver_request(inventory)
    assert "kubernetes.default.svc.corp.internal" in request.dns_names
    assert {ip("172.30.0.1"), ip("192.168.0.10")} <= set(request.ip_addresses)


# name -> (file, kind, CA, CN, O, usages)
EXPECTED = {
    "apiserver": ("apiserver", Kind.CERT, "ca", "kube-apiserver", (), {SERVER_AUTH}),
    "apiserver-kubelet-client": (
        "apiserver-kubelet-client",
        Kind.CERT,
        "ca",
        "kube-apiserver-kubelet-client",
        ("kubeadm:cluster-admins",),
        {CLIENT_AUTH},
    ),
    "front-proxy-client": (
        "front-proxy-client",
        Kind.CERT,
        "front-proxy-ca",
        "front-proxy-client",
        (),
        {CLIENT_AUTH},
    ),
    "etcd-server-cp1": ("etcd/cp1/server", Kind.CERT, "etcd-ca", "cp1", (), {SERVER_AUTH, CLIENT_AUTH}),
    "etcd-peer-cp2": ("etcd/cp2/peer", Kind.CERT, "etcd-ca", "cp2", (), {SERVER_AUTH, CLIENT_AUTH}),
    "etcd-healthcheck-client": (
        "etcd/healthcheck-client",
        Kind.CERT,
        "etcd-ca",
        "kube-etcd-healthcheck-client",
        (),
        {CLIENT_AUTH},
    ),
    "apiserver-etcd-client": (
        "apiserver-etcd-client",
        Kind.CERT,
        "etcd-ca",
        "kube-apiserver-etcd-client",
        (),
        {CLIENT_AUTH},
    ),
    "kubelet-serving-w1": ("kubelet/w1", Kind.CERT, "ca", "system:node:w1", ("system:nodes",), {SERVER_AUTH}),
    "admin.conf": (
        "admin.conf",
        Kind.KUBECONFIG,
        "ca",
        "kubernetes-admin",
        ("kubeadm:cluster-admins",),
        {CLIENT_AUTH},
    ),
    "super-admin.conf": (
        "super-admin.conf",
        Kind.KUBECONFIG,
        "ca",
        "kubernetes-super-admin",
        ("system:masters",),
        {CLIENT_AUTH},
    ),
    "controller-manager.conf": (
        "controller-manager.conf",
        Kind.KUBECONFIG,
        "ca",
        "system:kube-controller-manager",
        (),
        {CLIENT_AUTH},
    ),
    "scheduler.conf": ("scheduler.conf", Kind.KUBECONFIG, "ca", "system:kube-scheduler", (), {CLIENT_AUTH}),
    "kube-proxy.conf": ("kube-proxy.conf", Kind.KUBECONFIG, "ca", "system:kube-proxy", (), {CLIENT_AUTH}),
    "kubelet-cp1.conf": (
        "kubelet-cp1.conf",
        Kind.KUBECONFIG,
        "ca",
        "system:node:cp1",
        ("system:nodes",),
        {CLIENT_AUTH},
    ),
    "kubelet-w1.conf": (
        "kubelet-w1.conf",
        Kind.KUBECONFIG,
        "ca",
        "system:node:w1",
        ("system:nodes",),
        {CLIENT_AUTH},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=str)
def test_identities_match_kubeadm(name: str) -> None:
    spec = {s.name: s for s in layout.leaves(make_inventory())}[name]
    path, kind, ca, cn, orgs, usages = EXPECTED[name]
    request = spec.request
    assert (
        spec.path,
        spec.kind,
        spec.ca,
        request.common_name,
        request.organizations,
        set(request.usages),
    ) == (
        path,
        kind,
        ca,
        cn,
        orgs,
        usages,
    )


def test_every_host_gets_its_certs_and_only_control_planes_run_etcd() -> None:
    names = {s.name for s in layout.leaves(make_inventory())}
    assert {"etcd-server-cp1", "etcd-server-cp2", "etcd-peer-cp1", "etcd-peer-cp2"} <= names
    assert "etcd-server-w1" not in names
    for host in ("cp1", "cp2", "w1"):
        assert {f"kubelet-{host}.conf", f"kubelet-serving-{host}"} <= names
    paths = [s.path for s in layout.leaves(make_inventory())]
    assert len(paths) == len(set(paths))


def test_etcd_member_sans() -> None:
    spec = {s.name: s for s in layout.leaves(make_inventory())}["etcd-peer-cp2"]
    assert set(spec.request.dns_names) == {"cp2", "localhost"}
    assert set(spec.request.ip_addresses) == {ip("10.0.0.12"), ip("127.0.0.1"), ip("::1")}


@pytest.mark.parametrize(
    ("name", "selected"),
    [
        ("apiserver", {"apiserver"}),
        ("etcd-server", {"etcd-server-cp1", "etcd-server-cp2"}),
        ("etcd-peer-cp2", {"etcd-peer-cp2"}),
        ("kubelet-serving", {"kubelet-serving-cp1", "kubelet-serving-cp2", "kubelet-serving-w1"}),
        ("kubelet-w1.conf", {"kubelet-w1.conf"}),
    ],
    ids=str,
)
def test_select(name: str, selected: set[str]) -> None:
    assert {s.name for s in layout.select(layout.leaves(make_inventory()), name)} == selected


def test_select_all_and_unknown() -> None:
    specs = layout.leaves(make_inventory())
    assert layout.select(specs, "all") == specs
    with pytest.raises(ValueError, match="unknown certificate 'etcd'"):
        layout.select(specs, "etcd")


def test_inventory_json_round_trip() -> None:
    inventory = make_inventory(apiserver_endpoint="k8s.example.com", service_cidr="172.30.0.0/16")
    assert Inventory.from_json(inventory.to_json()) == inventory


@pytest.mark.parametrize(
    "data",
    [{}, {"cluster": "demo"}, {"cluster": "demo", "controlPlanes": [{"name": "cp1", "ip": "nope"}]}],
    ids=["empty", "no-control-planes", "bad-ip"],
)
def test_inventory_from_bad_json(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Inventory.from_json(data)
