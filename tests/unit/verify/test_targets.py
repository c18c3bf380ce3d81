from __future__ import annotations

from pathlib import Path

import pytest

from kubeling.verify.layout import CONTROL_PLANE, ETCD, NODE
from kubeling.verify.targets import InventoryError, hostspec, load_targets, ssh_options, target_from

INVENTORY = """\
kube_control_plane = [("cp1", {"ssh_hostname": "127.0.0.11", "ssh_user": "vagrant", "_sudo": True,
                              "ssh_key": "~/keys/id"})]
etcd = ["cp1"]
kube_node = [("w1", {"ssh_hostname": "127.0.0.12", "ssh_port": 2222, "node_ip": "192.168.56.12",
                     "node_name": "worker-1", "ssh_known_hosts_file": "/lab/known_hosts",
                     "ssh_strict_host_key_checking": "yes"})]
bastion = [("jump", {"ssh_hostname": "127.0.0.13"})]  # not a cluster group: not verified
"""


def test_load_targets_reads_groups_ssh_settings_and_group_data(tmp_path: Path) -> None:
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text('cluster_domain = "lab.local"\nssh_user = "root"\n')
    path = tmp_path / "lab.py"
    path.write_text(INVENTORY)
    cp1, w1 = load_targets(path)
    assert (cp1.name, cp1.user, cp1.sudo) == ("cp1", "vagrant", True)
    assert cp1.groups == frozenset({CONTROL_PLANE, ETCD})
    assert cp1.key == str(Path("~/keys/id").expanduser())
    assert cp1.node_ip == "127.0.0.11" and cp1.node_name == "cp1"
    assert (w1.groups, w1.user, w1.port, w1.node_ip, w1.node_name) == (
        frozenset({NODE}),
        "root",
        2222,
        "192.168.56.12",
        "worker-1",
    )
    assert w1.data["cluster_domain"] == "lab.local"
    assert hostspec(cp1) == "ssh://vagrant@127.0.0.11"
    assert hostspec(w1) == "ssh://root@127.0.0.12:2222"
    assert ssh_options(w1) == [
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        "UserKnownHostsFile=/lab/known_hosts",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kube_node = [1/0]\n", "ZeroDivisionError"),
        ("web = ['127.0.0.1']\n", "has no host in any of the groups"),
    ],
    ids=["raises", "no-cluster-group"],
)
def test_bad_inventories_say_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(InventoryError, match=message):
        load_targets(path)


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        load_targets(tmp_path / "nope.py")


def test_local_and_unsupported_connectors() -> None:
    local = target_from({"name": "@local", "groups": [NODE], "connector": "LocalConnector", "data": {}})
    assert local.local and hostspec(local) == "local://"
    with pytest.raises(InventoryError, match="only SSH and @local"):
        target_from({"name": "@docker/x", "groups": [NODE], "connector": "DockerConnector", "data": {}})


def test_ipv6_hostspec() -> None:
    target = target_from(
        {"name": "w", "groups": [NODE], "connector": "SSHConnector", "data": {"ssh_hostname": "fd00::2"}}
    )
    assert hostspec(target) == "ssh://[fd00::2]"
