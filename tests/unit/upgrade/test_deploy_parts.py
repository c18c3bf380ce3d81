"""The pure parts of deploys/upgrade.py: which version a manifest runs, manifests rendered at the target."""

from __future__ import annotations

import dataclasses

from deploys.cluster import Cluster, Node, render
from deploys.tasks.control_plane import COMPONENTS
from deploys.tasks.upgrade import manifest_version, wheelhouse_of

CP = Node("cp-1", "10.0.0.2", control_plane=True, etcd=True)
CLUSTER = Cluster(name="c", version="0.1.0", nodes=(CP, Node("w-1", "10.0.0.3", worker=True)))


def test_every_control_plane_manifest_names_its_version() -> None:
    for component in COMPONENTS:
        text = render(f"{component}.yaml.j2", CLUSTER, CP)
        assert manifest_version(text) == "0.1.0"
        target = render(f"{component}.yaml.j2", dataclasses.replace(CLUSTER, version="0.2.0"), CP)
        assert manifest_version(target) == "0.2.0"


def test_unreadable_manifests_have_no_version() -> None:
    assert manifest_version(None) is None
    assert manifest_version("spec:\n  containers:\n    - image: other/thing:1\n") is None


def test_wheelhouses_are_kept_per_version() -> None:
    assert wheelhouse_of("0.2.0") == "/opt/kubeling/wheelhouse-0.2.0.tar"
