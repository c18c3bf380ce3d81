"""CNI pure parts: the conflist, per-plugin stdin, results of every spec version, leftover detection."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from kubeling.kubelet import cni
from kubeling.kubelet.runtime import PortMapping

NET = "kbt"
DEAD = "d" * 64
LIVE = "a" * 64


def test_conflist_bridge_hostlocal_firewall_portmap_loopback(tmp_path: Path) -> None:
    conflist = cni.make_conflist("10.244.7.0/24", name=NET, bridge="kbt0", data_dir="/x")
    assert [p["type"] for p in conflist["plugins"]] == ["bridge", "firewall", "portmap", "loopback"]
    bridge = conflist["plugins"][0]
    assert bridge["isGateway"] and bridge["ipMasq"] and bridge["hairpinMode"] and bridge["bridge"] == "kbt0"
    assert bridge["ipam"] == {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.7.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "/x",
    }
    assert conflist["plugins"][2]["capabilities"] == {"portMappings": True}
    cni.write_conflist(tmp_path, conflist)
    assert cni.load_conflist(tmp_path) == conflist
    with pytest.raises(ValueError):
        cni.make_conflist("not-a-cidr")


def test_load_conflist_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cni.load_conflist(tmp_path)


def test_plugin_config_injects_only_declared_capabilities() -> None:
    conflist = cni.make_conflist("10.244.7.0/24", name=NET)
    runtime = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    prev = {"cniVersion": "1.0.0", "ips": [{"address": "10.244.7.2/24"}]}
    portmap = cni.plugin_config(conflist, conflist["plugins"][2], prev, runtime)
    assert portmap["name"] == NET and portmap["cniVersion"] == "1.0.0" and portmap["prevResult"] == prev
    assert portmap["runtimeConfig"] == runtime
    bridge = cni.plugin_config(conflist, conflist["plugins"][0], None, runtime)
    assert "runtimeConfig" not in bridge and "prevResult" not in bridge


def test_port_mappings_skip_ports_without_host_port() -> None:
    got = cni.port_mappings_config(
        [PortMapping(80, 8080), PortMapping(53, 5353, "UDP", "127.0.0.1"), PortMapping(9000, 0)]
    )
    assert got == [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"},
    ]


@pytest.mark.parametrize(
    ("result", "ips"),
    [
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "fd00::2/64"}, {"address": "10.0.0.2/24"}]},
            ["10.0.0.2", "fd00::2"],
        ),
        ({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.3/24"}}, ["10.0.0.3"]),
        ({"cniVersion": "1.0.0"}, []),
    ],
    ids=["v1-dual-stack-v4-first", "v0.2-ip4", "empty"],
)
def test_parse_result(result: dict, ips: list[str]) -> None:
    assert cni.parse_result(result).ips == ips


def test_parse_error_json_and_plain() -> None:
    err = cni.parse_error("bridge", "ADD", b'{"code": 11, "msg": "boom", "details": "d"}', b"", 1)
    assert (err.code, err.details, str(err)) == (11, "d", "CNI bridge ADD failed: boom (d)")
    assert "exploded" in str(cni.parse_error("x", "DEL", b"", b"exploded\n", 2))


def test_plugin_env() -> None:
    env = cni.plugin_env("ADD", "cid", "/proc/1/ns/net", "eth0", "/usr/lib/cni", "K8S_POD_NAME=p")
    assert (
        env["CNI_COMMAND"] == "ADD"
        and env["CNI_NETNS"] == "/proc/1/ns/net"
        and env["CNI_ARGS"] == "K8S_POD_NAME=p"
    )


def _comment(cid: str, prefix: str = "") -> str:
    return f'-m comment --comment "{prefix}name: \\"{NET}\\" id: \\"{cid}\\""'


def test_stale_rules_pick_dead_ids_of_this_network_only() -> None:
    lines = [
        "-N CNI-aaaa",
        f"-A POSTROUTING -s 10.244.7.2/32 {_comment(DEAD)} -j CNI-aaaa",
        f"-A CNI-aaaa -d 10.244.7.0/24 {_comment(DEAD)} -j ACCEPT",
        f"-A POSTROUTING -s 10.244.7.3/32 {_comment(LIVE)} -j CNI-bbbb",
        f"-A CNI-HOSTPORT-DNAT -p tcp {_comment(DEAD, 'dnat ')} -m multiport --dports 80 -j CNI-DN-cccc",
        f'-A POSTROUTING -s 10.9.0.2/32 -m comment --comment "name: \\"other\\" id: \\"{DEAD}\\""'
        " -j CNI-dddd",
        "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
    ]
    rules, chains = cni.stale_rules(lines, NET, lambda cid: cid != LIVE)
    assert chains == {"CNI-aaaa", "CNI-DN-cccc"}
    assert rules[0] == [
        "POSTROUTING",
        "-s",
        "10.244.7.2/32",
        "-m",
        "comment",
        "--comment",
        f'name: "{NET}" id: "{DEAD}"',
        "-j",
        "CNI-aaaa",
    ]
    assert len(rules) == 3


def test_forward_rules_and_reservations(tmp_path: Path) -> None:
    lines = [
        '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
        "-A CNI-FORWARD -d 10.244.7.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A CNI-FORWARD -s 10.244.7.2/32 -j ACCEPT",
        "-A CNI-FORWARD -s 10.244.7.3/32 -j ACCEPT",
        "-A CNI-FORWARD -s 10.9.0.2/32 -j ACCEPT",
    ]
    got = cni.forward_rules_to_remove(lines, [ipaddress.ip_network("10.244.7.0/24")], {"10.244.7.3"})
    assert [argv[2] for argv in got] == ["10.244.7.2/32", "10.244.7.2/32"]
    (tmp_path / "10.244.7.2").write_text(f"{DEAD}\r\neth0")
    (tmp_path / "10.244.7.3").write_text(f"{LIVE}\r\neth0")
    (tmp_path / "lock").write_text("")
    (tmp_path / "last_reserved_ip.0").write_text("10.244.7.3")
    assert cni.stale_reservations(tmp_path, {LIVE}) == [tmp_path / "10.244.7.2"]
    assert cni.stale_reservations(tmp_path / "absent", set()) == []


def test_cluster_wide_masquerade_turns_off_the_bridge_masquerade(tmp_path: Path) -> None:
    network = cni.CNINetwork(str(tmp_path), non_masquerade_cidr="10.244.0.0/16")
    network.configure("10.244.1.0/24")
    assert network.conflist["plugins"][0]["ipMasq"] is False
    assert cni.CNINetwork(str(tmp_path / "b")).configure("10.244.2.0/24").read_text().count('"ipMasq": true')


def test_masquerade_rules_keep_pod_to_pod_traffic_unmasqueraded() -> None:
    [rule] = cni.masquerade_rules("10.244.1.0/24", "10.244.0.0/16")
    text = " ".join(rule)
    assert text.startswith(f"{cni.MASQUERADE_CHAIN} -s 10.244.1.0/24 ! -d 10.244.0.0/16")
    assert "--dst-type LOCAL" in text and rule[-2:] == ["-j", "MASQUERADE"]


def test_non_masquerade_cidr_must_be_a_network(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        cni.CNINetwork(str(tmp_path), non_masquerade_cidr="not-a-cidr")
