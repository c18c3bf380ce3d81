"""Every host template renders for one and for three control planes, and what it renders is
accepted by the part that reads it: static pods by kubeling's pod validation, the kubelet's
config by ``kubeling.kubelet.config.from_file``, the unit's command line by ``kubeling``'s parser."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from deploys import cluster as c

from kubeling.api import defaults
from kubeling.api.resources import Registry
from kubeling.api.validation import validate
from kubeling.cli import build_parser
from kubeling.kubelet import config as kubelet_config
from kubeling.kubelet.static import static_pod


def make_cluster(control_planes: int = 1, workers: int = 2, **settings: object) -> c.Cluster:
    nodes = [
        c.Node(f"cp-{i}", f"10.0.0.{10 + i}", control_plane=True, etcd=True)
        for i in range(1, control_planes + 1)
    ]
    nodes += [c.Node(f"worker-{i}", f"10.0.0.{20 + i}", worker=True) for i in range(1, workers + 1)]
    return c.Cluster(name="test", version="9.9.9", nodes=tuple(nodes), **settings)  # type: ignore[arg-type]


SINGLE = make_cluster()
HA = make_cluster(control_planes=3, workers=1)
STATIC_PODS = ["kube-apiserver.yaml.j2", "kube-controller-manager.yaml.j2", "kube-scheduler.yaml.j2"]
PODS = Registry().by_kind("", "v1", "Pod")


@pytest.mark.parametrize("template", STATIC_PODS)
@pytest.mark.parametrize("cluster", [SINGLE, HA], ids=["single", "ha"])
def test_static_pods_are_valid_pods(template: str, cluster: c.Cluster) -> None:
    for node in cluster.control_planes:
        manifest = yaml.safe_load(c.render(template, cluster, node))
        pod = static_pod(manifest, node.name, template)
        assert PODS is not None
        defaults.apply_defaults(PODS, pod)
        assert validate(PODS, pod) == [], template
        spec = pod["spec"]
        assert spec["hostNetwork"] is True
        assert spec["priorityClassName"] == "system-node-critical"
        container = spec["containers"][0]
        assert container["image"] == "kubeling/kubeling:9.9.9"
        assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"


@pytest.mark.parametrize("template", STATIC_PODS)
def test_static_pod_commands_parse_with_kubelings_own_flags(template: str) -> None:
    node = HA.control_planes[1]
    command = yaml.safe_load(c.render(template, HA, node))["spec"]["containers"][0]["command"]
    assert command[0] == "kubeling"
    build_parser().parse_args(command[1:])  # exits on an unknown flag


def test_apiserver_talks_to_its_own_etcd_member_first_and_lists_all() -> None:
    node = HA.control_planes[1]
    command = yaml.safe_load(c.render("kube-apiserver.yaml.j2", HA, node))["spec"]["containers"][0]["command"]
    servers = next(a for a in command if a.startswith("--etcd-servers=")).split("=", 1)[1].split(",")
    assert servers == ["https://10.0.0.12:2379", "https://10.0.0.11:2379", "https://10.0.0.13:2379"]
    assert "--advertise-address=10.0.0.12" in command


def test_sqlite_datastore_keeps_its_data_on_the_host() -> None:
    cluster = make_cluster(datastore="sqlite")
    pod = yaml.safe_load(c.render("kube-apiserver.yaml.j2", cluster, cluster.control_planes[0]))
    command = pod["spec"]["containers"][0]["command"]
    assert "--storage-backend=sqlite" in command
    assert not any(a.startswith("--etcd") for a in command)
    assert {"name": "data", "hostPath": {"path": "/var/lib/kubeling", "type": "DirectoryOrCreate"}} in pod[
        "spec"
    ]["volumes"]


@pytest.mark.parametrize("cluster", [SINGLE, HA], ids=["single", "ha"])
def test_kubelet_config_is_accepted_by_the_kubelet(cluster: c.Cluster, tmp_path: Path) -> None:
    for node in cluster.nodes:
        path = tmp_path / f"{node.name}.yaml"
        path.write_text(c.render("kubelet-config.yaml.j2", cluster, node))
        values = kubelet_config.from_file(path)
        built = kubelet_config.build(values, {})
        assert built.pod_manifest_path == "/etc/kubernetes/manifests"
        assert built.cluster_dns == ["10.96.0.10"]
        assert built.client_ca_file == "/etc/kubernetes/pki/ca.crt"
        assert built.tls_cert_file == f"/etc/kubernetes/pki/kubelet/{node.name}.crt"
        assert built.pod_infra_container_image == "kubeling/pause:9.9.9"
        tainted = [t["key"] for t in built.register_with_taints]
        assert tainted == (["node-role.kubernetes.io/control-plane"] if node.control_plane else [])


def test_a_lone_control_plane_is_not_tainted() -> None:
    alone = make_cluster(workers=0)
    assert alone.taints_for(alone.control_planes[0]) == []


def _exec_start(unit: str) -> list[str]:
    joined = unit.replace("\\\n", " ")
    line = next(ln for ln in joined.splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.parametrize("cluster", [SINGLE, HA], ids=["single", "ha"])
def test_kubelet_unit_runs_the_venvs_kubelet_with_flags_it_knows(cluster: c.Cluster) -> None:
    for node in cluster.nodes:
        unit = c.render("kubelet.service.j2", cluster, node)
        argv = _exec_start(unit)
        assert argv[0] == "/opt/kubeling/venv/bin/kubeling"
        args = build_parser().parse_args(argv[1:])
        assert args.config == "/var/lib/kubelet/config.yaml"
        assert args.kubeconfig == "/etc/kubernetes/kubelet.conf"
        assert args.node_ip == node.ip
        assert args.hostname_override == node.name
        assert "[Install]" in unit and "WantedBy=multi-user.target" in unit


def _env_file(text: str) -> dict[str, str]:
    pairs = [ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {k: v.strip('"') for k, v in pairs}


def test_etcd_default_file_is_a_tls_member_of_the_inventorys_cluster() -> None:
    node = HA.etcd_members[2]
    env = _env_file(c.render("etcd.default.j2", HA, node))
    assert env["ETCD_NAME"] == "cp-3"
    assert env["ETCD_INITIAL_CLUSTER"] == (
        "cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380"
    )
    assert env["ETCD_LISTEN_CLIENT_URLS"] == "https://10.0.0.13:2379,https://127.0.0.1:2379"
    assert env["ETCD_CLIENT_CERT_AUTH"] == env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
    assert (
        env["ETCD_TRUSTED_CA_FILE"] == env["ETCD_PEER_TRUSTED_CA_FILE"] == "/etc/kubernetes/pki/etcd/ca.crt"
    )
    assert env["ETCD_CERT_FILE"] == "/etc/kubernetes/pki/etcd/server.crt"
    assert env["ETCD_PEER_KEY_FILE"] == "/etc/kubernetes/pki/etcd/peer.key"


def test_kernel_settings() -> None:
    node = SINGLE.nodes[0]
    sysctls = dict(
        (part.strip() for part in ln.split("="))  # type: ignore[misc]
        for ln in c.render("sysctl-kubeling.conf.j2", SINGLE, node).splitlines()
        if ln and not ln.startswith("#")
    )
    assert sysctls == {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}
    modules = [
        ln for ln in c.render("modules-load-kubeling.conf.j2", SINGLE, node).splitlines() if ln[:1] != "#"
    ]
    assert modules == ["br_netfilter"]


def test_api_urls_single_and_ha() -> None:
    cp, worker = SINGLE.control_planes[0], SINGLE.workers_only[0]
    assert SINGLE.apiserver_url_for(cp) == "https://127.0.0.1:6443"
    assert SINGLE.apiserver_url_for(worker) == "https://10.0.0.11:6443"
    assert SINGLE.proxy_apiserver_url == "https://10.0.0.11:6443"
    assert all(HA.apiserver_url_for(n) == "https://127.0.0.1:6443" for n in HA.control_planes)
    # Several control planes: workers and kube-proxy go through the node-local kubeling lb.
    assert HA.apiserver_url_for(HA.workers_only[0]) == "https://127.0.0.1:6444"
    assert HA.proxy_apiserver_url == "https://127.0.0.1:6444"
    alone = make_cluster(workers=0)
    assert alone.proxy_apiserver_url == "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("hosts", "settings", "message"),
    [
        ([], {}, "kube_control_plane' is empty"),
        (
            [("cp", {"node_ip": "10.0.0.1"}, {"kube_control_plane"})],
            {},
            "needs hosts in the inventory group 'etcd'",
        ),
        ([("cp", {}, {"kube_control_plane", "etcd"})], {}, "give node_ip"),
        ([("cp", {"node_ip": "nope"}, {"kube_control_plane", "etcd"})], {}, "node_ip 'nope' is not an IP"),
        (
            [
                ("10.0.0.1", {"node_name": "a"}, {"kube_control_plane", "etcd"}),
                ("10.0.0.2", {"node_name": "a"}, {"kube_node"}),
            ],
            {},
            "node name 'a' is used by two hosts",
        ),
        ([("10.0.0.1", {"node_name": "A_b"}, {"kube_control_plane", "etcd"})], {}, "lowercase DNS name"),
        (
            [("10.0.0.1", {}, {"kube_control_plane", "etcd"})],
            {"datastore": "mysql"},
            "choose one of etcd, sqlite",
        ),
        (
            [("10.0.0.1", {}, {"kube_control_plane", "etcd"})],
            {"service_cidr": "10.244.0.0/12"},
            "not a network",
        ),
        (
            [("10.0.0.1", {}, {"kube_control_plane", "etcd"})],
            {"service_cidr": "10.244.0.0/16"},
            "overlaps cluster_cidr",
        ),
    ],
    ids=[
        "no-control-plane",
        "no-etcd",
        "no-ip",
        "bad-ip",
        "duplicate-name",
        "bad-name",
        "datastore",
        "cidr",
        "overlap",
    ],
)
def test_bad_inventories_are_clear_errors(
    hosts: list[tuple[str, dict[str, object], set[str]]], settings: dict[str, object], message: str
) -> None:
    with pytest.raises(c.ClusterError, match=message):
        c.from_hosts(hosts, {"kubeling_version": "1", **settings})


def test_from_hosts_reads_groups_and_host_data() -> None:
    cluster = c.from_hosts(
        [
            ("10.0.0.1", {"node_name": "cp"}, {"kube_control_plane", "etcd", "all"}),
            ("w.example", {"node_ip": "10.0.0.2"}, {"kube_node"}),
            ("10.9.9.9", {}, {"bastion"}),
        ],
        {"kubeling_version": "1.2.3", "cluster_name": "demo", "addons": ["dns"]},
    )
    assert [(n.name, n.ip, n.control_plane, n.etcd, n.worker) for n in cluster.nodes] == [
        ("cp", "10.0.0.1", True, True, False),
        ("w.example", "10.0.0.2", False, False, True),
    ]
    assert (cluster.name, cluster.image, cluster.addons) == ("demo", "kubeling/kubeling:1.2.3", ("dns",))
    inventory = cluster.pki_inventory()
    assert [h.name for h in inventory.control_planes] == ["cp"]
    assert [h.name for h in inventory.nodes] == ["w.example"]


def test_apiserver_workers_reach_the_command_line_and_need_etcd() -> None:
    cluster = make_cluster(apiserver_workers=3)
    command = yaml.safe_load(c.render("kube-apiserver.yaml.j2", cluster, cluster.control_planes[0]))["spec"][
        "containers"
    ][0]["command"]
    assert "--workers=3" in command
    assert build_parser().parse_args(command[1:]).workers == 3
    single = yaml.safe_load(c.render("kube-apiserver.yaml.j2", SINGLE, SINGLE.control_planes[0]))
    assert not any(a.startswith("--workers") for a in single["spec"]["containers"][0]["command"])
    with pytest.raises(c.ClusterError, match="needs datastore etcd"):
        make_cluster(datastore="sqlite", apiserver_workers=2)
    with pytest.raises(c.ClusterError, match="at least 1"):
        make_cluster(apiserver_workers=0)
