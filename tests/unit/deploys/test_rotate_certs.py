"""The pure parts of deploys/rotate_certs.py: the certificates hash that rolls static pods,
the annotated manifests (and the pod uid the kubelet derives), the wait steps' verdicts."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

import pytest
import yaml
from deploys.cluster import render
from deploys.tasks import certs, certs_steps

from kubeling.kubelet.static import static_pod
from kubeling.pki import commands
from tests.unit.deploys.test_templates import HA


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    commands.init(commands.InitOptions(directory=directory, inventory=HA.pki_inventory()), out=io.StringIO())
    return directory


def test_hash_is_per_node_and_moves_with_a_renewal(source: Path) -> None:
    cp1, cp2 = HA.control_planes[:2]
    before = {n.name: certs.certificates_hash(HA, n, source) for n in (cp1, cp2)}
    assert before[cp1.name] != before[cp2.name]
    assert certs.certificates_hash(HA, cp1, source) == before[cp1.name]  # deterministic
    commands.renew(source, "apiserver", out=io.StringIO())
    assert certs.certificates_hash(HA, cp1, source) != before[cp1.name]


@pytest.mark.parametrize("component", ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
def test_annotated_manifest_carries_the_hash_and_its_uid(component: str) -> None:
    node = HA.control_planes[0]
    content, uid = certs.annotated_manifest(HA, node, component, "abc123")
    manifest = yaml.safe_load(content)
    assert manifest["metadata"]["annotations"][certs.ANNOTATION] == "abc123"
    assert content.startswith(b"# Static pod")  # the template's header line is kept
    assert static_pod(manifest, node.name)["metadata"]["uid"] == uid
    plain = static_pod(yaml.safe_load(render(f"{component}.yaml.j2", HA, node)), node.name)
    assert plain["metadata"]["uid"] != uid  # the annotation alone makes the kubelet recreate it
    again, uid_again = certs.annotated_manifest(HA, node, component, "abc123")
    assert (again, uid_again) == (content, uid)
    assert certs.annotated_manifest(HA, node, component, "other")[1] != uid


class FakeClient:
    def __init__(self, obj: dict | Exception) -> None:
        self.obj = obj

    async def get(self, *_args: object, **_kwargs: object) -> dict:
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


def _pod(hash_: str, ready: str) -> dict:
    return {
        "metadata": {"annotations": {certs_steps.HASH: hash_}},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


@pytest.mark.parametrize(
    ("obj", "waiting"),
    [
        (_pod("new", "True"), ""),
        (_pod("old", "True"), "still runs manifest old"),
        (_pod("new", "False"), "is not Ready"),
        (ConnectionRefusedError("refused"), "refused"),
    ],
    ids=["done", "old-manifest", "not-ready", "api-down"],
)
def test_static_pod_step(obj: dict | Exception, waiting: str) -> None:
    args = argparse.Namespace(component="kube-scheduler", node="cp-1", hash="new", readyz="", cacert="")
    verdict = asyncio.run(certs_steps.static_pod(FakeClient(obj), args))  # type: ignore[arg-type]
    assert (verdict == "") if not waiting else (waiting in verdict)


@pytest.mark.parametrize(
    ("beat", "waiting"),
    [("2030-01-01T00:00:10Z", ""), ("2030-01-01T00:00:00Z", "before the restart")],
)
def test_node_ready_needs_a_heartbeat_after_the_restart(beat: str, waiting: str) -> None:
    node = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": beat}]}}
    args = argparse.Namespace(node="w", since=1893456005.0)  # 2030-01-01T00:00:05Z
    verdict = asyncio.run(certs_steps.node_ready(FakeClient(node), args))  # type: ignore[arg-type]
    assert (verdict == "") if not waiting else (waiting in verdict)


def test_install_and_rotation_write_the_same_manifest(source: Path) -> None:
    """install.py (and upgrade.py) annotate like rotate_certs.py: an install after a rotation
    finds the manifests as they are and restarts nothing."""
    from deploys.tasks.control_plane import COMPONENTS, manifest

    node = HA.control_planes[0]
    certs_hash = certs.certificates_hash(HA, node, source)
    for component in COMPONENTS:
        installed = manifest(HA, node, component, source)
        rotated, _ = certs.annotated_manifest(HA, node, component, certs_hash)
        assert installed.encode() == rotated
        assert yaml.safe_load(installed)["metadata"]["annotations"][certs.ANNOTATION] == certs_hash
