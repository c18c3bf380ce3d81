"""Growing and shrinking a nodes lab: the next worker's name and address, and the node list kept
in the lab's state (pure: no Docker)."""

from __future__ import annotations

from pathlib import Path

from kubeling.lab import inventory
from kubeling.lab.nodes import Node, NodesLab, NodesLabSpec, Role


def make_lab(tmp_path: Path, **overrides: object) -> NodesLab:
    values: dict[str, object] = {"name": "lab", "directory": tmp_path, "subnet": "10.251.7.0/24"}
    lab = NodesLab(NodesLabSpec(**{**values, **overrides}))  # type: ignore[arg-type]
    tmp_path.mkdir(parents=True, exist_ok=True)
    return lab


def test_next_worker_takes_the_next_number_and_first_free_address(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, control_planes=1, workers=2)
    assert lab.next_worker() == Node("lab-worker-3", Role.WORKER, "10.251.7.14")
    # worker-1 went: its address is free again, numbers keep growing (no name reused while others run)
    lab.nodes = [n for n in lab.nodes if n.name != "lab-worker-1"]
    assert lab.next_worker() == Node("lab-worker-3", Role.WORKER, "10.251.7.12")


def test_next_worker_of_a_lab_without_workers(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, control_planes=3, workers=0)
    assert lab.next_worker() == Node("lab-worker-1", Role.WORKER, "10.251.7.14")


def test_state_keeps_added_and_removed_nodes(tmp_path: Path) -> None:
    lab = make_lab(tmp_path, control_planes=1, workers=1)
    extra = lab.next_worker()
    lab.nodes = [lab.nodes[0], extra]  # worker-1 removed, worker-2 added
    lab.save()
    loaded = NodesLab.load(tmp_path)
    assert loaded.nodes == [Node("lab-cp-1", Role.CONTROL_PLANE, "10.251.7.11"), extra]
    text = inventory.render(loaded)
    assert "lab-worker-2" in text and "lab-worker-1" not in text
