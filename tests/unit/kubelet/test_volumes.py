"""VolumeManager on a real filesystem (tmp dirs, real tmpfs mounts) for sources that need no apiserver."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.rest import RESTClient
from kubeling.kubelet import runtime
from kubeling.kubelet.volumeplugins import hostutil
from kubeling.kubelet.volumes import MountError, VolumeManager, expand


def make_pod(volumes: list[dict], containers: list[dict] | None = None, **spec: object) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-1", "labels": {"app": "x"}},
        "spec": {"volumes": volumes, "containers": containers or [{"name": "c"}], **spec},
    }


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[VolumeManager]:
    # No test here reaches the apiserver: the client points nowhere.
    client = RESTClient(ClientConfig(server="https://127.0.0.1:9"), max_retries=0)
    vm = VolumeManager(client, tmp_path / "kubelet", "node-a")
    yield vm
    for uid in vm.pod_uids_on_disk():
        await vm.teardown(uid)
    await vm.close()
    await client.close()


async def test_empty_dir_is_world_writable_and_survives_repeated_setup(manager: VolumeManager) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {}}])
    await manager.setup(pod)
    path = manager.volume_dir("uid-1", "kubernetes.io~empty-dir", "scratch")
    assert stat.S_IMODE(path.stat().st_mode) == 0o777
    (path / "data").write_text("kept")
    await manager.setup(pod)
    # A restarted kubelet (a fresh manager) sets the same volume up without wiping it.
    fresh = VolumeManager(manager.reader.client, manager.root_dir, "node-a")
    await fresh.setup(pod)
    assert (path / "data").read_text() == "kept"


async def test_memory_empty_dir_is_a_sized_tmpfs_unmounted_on_teardown(manager: VolumeManager) -> None:
    pod = make_pod([{"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}])
    await manager.setup(pod)
    path = manager.volume_dir("uid-1", "kubernetes.io~empty-dir", "mem")
    assert (str(path), "tmpfs") in hostutil.mount_points()
    assert os.statvfs(path).f_blocks * os.statvfs(path).f_frsize == 1024 * 1024
    await manager.setup(pod)  # mounted once only
    assert [p for p, _ in hostutil.mount_points()].count(str(path)) == 1
    await manager.teardown("uid-1")
    assert hostutil.mounts_under(manager.pod_dir("uid-1")) == []
    assert not (manager.pod_dir("uid-1") / "volumes").exists()


async def test_teardown_leaves_host_paths_and_symlink_targets_alone(
    manager: VolumeManager, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("x")
    pod = make_pod([{"name": "h", "hostPath": {"path": str(host)}}, {"name": "e", "emptyDir": {}}])
    await manager.setup(pod)
    scratch = manager.volume_dir("uid-1", "kubernetes.io~empty-dir", "e")
    (scratch / "escape").symlink_to(host)  # a container planted a link out of the pod dir
    await manager.teardown("uid-1")
    assert (host / "precious").read_text() == "x"
    assert not scratch.exists()


async def test_mounts_resolve_read_only_and_sub_paths(manager: VolumeManager, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    container = {
        "name": "c",
        "env": [{"name": "POD", "value": "p-1"}, {"name": "X", "valueFrom": {"fieldRef": {}}}],
        "volumeMounts": [
            {"name": "e", "mountPath": "/data"},
            {"name": "e", "mountPath": "/logs", "subPathExpr": "logs/$(POD)"},
            {"name": "h", "mountPath": "/host", "readOnly": True, "subPath": "sub"},
            {"name": "d", "mountPath": "/info"},
        ],
    }
    pod = make_pod(
        [
            {"name": "e", "emptyDir": {}},
            {"name": "h", "hostPath": {"path": str(host)}},
            {
                "name": "d",
                "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]},
            },
        ],
        [container],
    )
    await manager.setup(pod)
    scratch = manager.volume_dir("uid-1", "kubernetes.io~empty-dir", "e")
    downward = manager.volume_dir("uid-1", "kubernetes.io~downward-api", "d")
    assert manager.mounts_for(pod, container) == [
        runtime.Mount(str(scratch), "/data"),
        runtime.Mount(str(scratch / "logs" / "p-1"), "/logs", sub_path="logs/p-1"),
        runtime.Mount(str(host / "sub"), "/host", read_only=True, sub_path="sub"),
        runtime.Mount(str(downward), "/info", read_only=True),  # downward API volumes are read-only
    ]
    # subPath directories are made with the volume root's mode
    assert stat.S_IMODE((scratch / "logs" / "p-1").stat().st_mode) == 0o777
    assert (downward / "name").read_text() == "p"


async def test_sub_path_escaping_through_a_symlink_is_refused(manager: VolumeManager, tmp_path: Path) -> None:
    container = {"name": "c", "volumeMounts": [{"name": "e", "mountPath": "/x", "subPath": "link/inner"}]}
    pod = make_pod([{"name": "e", "emptyDir": {}}], [container])
    await manager.setup(pod)
    (manager.volume_dir("uid-1", "kubernetes.io~empty-dir", "e") / "link").symlink_to(tmp_path)
    with pytest.raises(MountError) as caught:
        manager.mounts_for(pod, container)
    assert caught.value.reason == "CreateContainerConfigError"
    assert str(caught.value) == 'failed to prepare subPath for volumeMount "e" of container "c"'
    assert not (tmp_path / "inner").exists()


async def test_unknown_volume_in_mounts(manager: VolumeManager) -> None:
    container = {"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}
    with pytest.raises(MountError, match='cannot find volume "nope" to mount into container "c"'):
        manager.mounts_for(make_pod([], [container]), container)


async def test_setup_failures_carry_upstream_messages(manager: VolumeManager, tmp_path: Path) -> None:
    pod = make_pod(
        [
            {"name": "ok", "emptyDir": {}},
            {"name": "bad", "hostPath": {"path": str(tmp_path / "missing"), "type": "Directory"}},
            {"name": "odd", "nfs": {"server": "x", "path": "/"}},
        ]
    )
    with pytest.raises(MountError) as caught:
        await manager.setup(pod)
    assert caught.value.reason == "FailedMount"
    assert caught.value.failures == [
        f'MountVolume.SetUp failed for volume "bad" : hostPath {tmp_path}/missing doesn\'t exist',
        'MountVolume.SetUp failed for volume "odd" : unsupported volume type: nfs',
    ]
    assert set(manager.mounted("uid-1")) == {"ok"}  # what worked stays set up


async def test_fs_group_owns_empty_dir_and_downward_files(manager: VolumeManager) -> None:
    pod = make_pod(
        [
            {"name": "e", "emptyDir": {}},
            {
                "name": "d",
                "downwardAPI": {
                    "defaultMode": 0o400,
                    "items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}],
                },
            },
        ],
        securityContext={"fsGroup": 4321},
    )
    await manager.setup(pod)
    scratch = manager.volume_dir("uid-1", "kubernetes.io~empty-dir", "e").stat()
    assert scratch.st_gid == 4321 and scratch.st_mode & stat.S_ISGID
    label_file = (manager.volume_dir("uid-1", "kubernetes.io~downward-api", "d") / "l").resolve().stat()
    assert label_file.st_gid == 4321
    assert stat.S_IMODE(label_file.st_mode) == 0o440  # read-only volumes get g+r


async def test_refresh_rewrites_downward_api_on_label_change(manager: VolumeManager) -> None:
    pod = make_pod(
        [
            {
                "name": "d",
                "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]},
            }
        ]
    )
    await manager.setup(pod)
    path = manager.volume_dir("uid-1", "kubernetes.io~downward-api", "d") / "l"
    assert path.read_text() == 'app="x"'
    assert not await manager.refresh(pod)  # nothing changed, nothing written
    pod["metadata"]["labels"]["tier"] = "web"
    assert await manager.refresh(pod)
    assert path.read_text() == 'app="x"\ntier="web"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a/$(POD)", "a/p-1"),
        ("$$(POD)", "$(POD)"),
        ("$(NOPE)/x", "$(NOPE)/x"),
        ("$(POD", "$(POD"),
        ("$x", "$x"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"POD": "p-1"}) == expected
