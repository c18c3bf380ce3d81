"""The nodes lab's address plan, input checks and its pyinfra inventory (pure: no Docker)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kubeling.lab import inventory
from kubeling.lab.netns import LabError
from kubeling.lab.nodeimage import NODE_PACKAGES, recipe_hash
from kubeling.lab.nodes import NodesLab, NodesLabSpec, Role


def make_lab(tmp_path: Path, **overrides: object) -> NodesLab:
    values: dict[str, object] = {"name": "lab", "directory": tmp_path, "subnet": "10.251.7.0/24"}
    return NodesLab(NodesLabSpec(**{**values, **overrides}))  # type: ignore[arg-type]


def test_control_planes_come_first_with_static_addresses(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, control_planes=3, workers=2)
    assert [(n.name, n.role, n.ip) for n in lab.nodes] == [
        ("lab-cp-1", Role.CONTROL_PLANE, "10.251.7.11"),
        ("lab-cp-2", Role.CONTROL_PLANE, "10.251.7.12"),
        ("lab-cp-3", Role.CONTROL_PLANE, "10.251.7.13"),
        ("lab-worker-1", Role.WORKER, "10.251.7.14"),
        ("lab-worker-2", Role.WORKER, "10.251.7.15"),
    ]
    assert lab.spec.gateway == "10.251.7.1"
    assert lab.spec.network == "kbln-lab"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "my-lab"}, "letters and digits only"),
        ({"name": "abcdefghijk"}, "at most 10"),
        ({"control_planes": 0}, "at least one control plane"),
        ({"workers": -1}, "--nodes"),
        ({"subnet": "10.251.7.0/25"}, "/24 or larger"),
        ({"subnet": "10.251.7.0"}, "/24 or larger"),
        ({"subnet": "lab"}, "not a network"),
    ],
    ids=["dash", "too-long", "no-control-plane", "negative-workers", "small-subnet", "host", "garbage"],
)
def test_bad_specs_are_refused_with_the_reason(tmp_path: Path, overrides: dict, message: str) -> None:
    values: dict = {"name": "lab", "directory": tmp_path, "subnet": "10.251.7.0/24", **overrides}
    with pytest.raises(LabError, match=message):
        NodesLabSpec(**values).check()


def test_node_lookup_takes_the_full_or_the_short_name(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, workers=1)
    assert lab.node("lab-worker-1") is lab.node("worker-1")
    with pytest.raises(LabError, match="no node 'worker-9'"):
        lab.node("worker-9")


def test_state_round_trips(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, control_planes=1, workers=2)
    lab.inventory = tmp_path / "inv.py"
    lab.generated = [tmp_path / "inv.kubeconfig", tmp_path / "certs"]
    lab.save()
    again = NodesLab.load(tmp_path)
    assert again.spec == lab.spec
    assert again.inventory == lab.inventory
    assert again.generated == lab.generated
    assert again.nodes == lab.nodes


def _groups(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(ast.parse(text), "lab.py", "exec"), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def test_inventory_has_kubesprays_groups_and_pinned_ssh(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, control_planes=1, workers=2)
    groups = _groups(inventory.render(lab))
    assert [name for name, _ in groups["kube_control_plane"]] == ["lab-cp-1"]  # type: ignore[attr-defined]
    assert groups["etcd"] == groups["kube_control_plane"]
    assert [name for name, _ in groups["kube_node"]] == ["lab-worker-1", "lab-worker-2"]  # type: ignore[attr-defined]
    _, data = groups["kube_node"][0]  # type: ignore[index]
    assert data == {
        "ssh_hostname": "10.251.7.12",
        "ssh_user": "root",
        "ssh_key": str(tmp_path / "id_ed25519"),
        "ssh_known_hosts_file": str(tmp_path / "known_hosts"),
        "ssh_strict_host_key_checking": "yes",
        "node_ip": "10.251.7.12",
    }
    hosts, settings = groups[inventory.LAB_GROUP]  # type: ignore[misc]
    assert hosts == ["lab-cp-1", "lab-worker-1", "lab-worker-2"]
    assert settings["cluster_name"] == "lab"


@pytest.mark.parametrize(("name", "file"), [("lab", "lab.py"), ("dev", "lab-dev.py")])
def test_inventory_path_per_lab_name(name: str, file: str) -> None:
    assert inventory.default_path(Path("/repo"), name) == Path("/repo/inventories") / file


def test_node_recipe_hash_follows_the_package_list() -> None:
    assert recipe_hash() == recipe_hash(tuple(reversed(NODE_PACKAGES)))
    assert recipe_hash() != recipe_hash((*NODE_PACKAGES, "curl"))
