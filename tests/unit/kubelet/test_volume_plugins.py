"""Volume plugins' pure logic: hostPath types, downward API values, configMap/secret payloads, tokens."""

from __future__ import annotations

import base64
import os
import socket
import stat
from pathlib import Path

import pytest

from kubeling.kubelet.atomicwriter import FileProjection
from kubeling.kubelet.volumeplugins import (
    configmap,
    downwardapi,
    emptydir,
    hostpath,
    persistentvolumeclaim,
    secret,
)
from kubeling.kubelet.volumeplugins.base import VolumeError
from kubeling.kubelet.volumeplugins.tokens import Token

# -- hostPath ----------------------------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> Path:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "kind", "error"),
    [
        ("missing", "", None),
        ("dir", "Directory", None),
        ("file", "Directory", "hostPath type check failed: {path} is not a directory, it's a File"),
        ("missing", "Directory", "hostPath {path} doesn't exist"),
        ("file", "File", None),
        ("dir", "File", "hostPath type check failed: {path} is not a file, it's a Directory"),
        ("missing", "File", "hostPath {path} doesn't exist"),
        ("file", "Socket", "hostPath type check failed: {path} is not a socket file, it's a File"),
        ("file", "CharDevice", "hostPath type check failed: {path} is not a character device, it's a File"),
        ("dir", "BlockDevice", "hostPath type check failed: {path} is not a block device, it's a Directory"),
        ("dir", "DirectoryOrCreate", None),
        ("file", "DirectoryOrCreate", "hostPath type check failed: {path} is not a directory, it's a File"),
        ("file", "FileOrCreate", None),
        ("dir", "FileOrCreate", "hostPath type check failed: {path} is not a file, it's a Directory"),
        ("dir", "Bogus", "Bogus is an invalid volume type"),
    ],
    ids=lambda value: str(value),
)
def test_hostpath_type_checks(host: Path, name: str, kind: str, error: str | None) -> None:
    path = str(host / name)
    if error is None:
        hostpath.check_type(path, kind)
        return
    with pytest.raises(VolumeError) as caught:
        hostpath.check_type(path, kind)
    assert str(caught.value) == error.format(path=path)


def test_hostpath_or_create_makes_what_is_missing(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    hostpath.check_type(str(directory), "DirectoryOrCreate")
    assert directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) == 0o755 & ~_umask()
    file = tmp_path / "f"
    hostpath.check_type(str(file), "FileOrCreate")
    assert file.is_file() and stat.S_IMODE(file.stat().st_mode) == 0o644 & ~_umask()
    missing_parent = tmp_path / "no" / "parent"
    with pytest.raises(VolumeError) as caught:
        hostpath.check_type(str(missing_parent), "FileOrCreate")
    assert str(caught.value) == f"open {missing_parent}: no such file or directory"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_hostpath_socket_and_devices(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        hostpath.check_type(str(path), "Socket")
    hostpath.check_type("/dev/null", "CharDevice")
    with pytest.raises(VolumeError, match="is not a block device, it's a CharDevice"):
        hostpath.check_type("/dev/null", "BlockDevice")


def test_hostpath_setup_uses_path_in_place() -> None:
    assert hostpath.setup({"path": "/dev/null", "type": "CharDevice"}) == Path("/dev/null")
    with pytest.raises(VolumeError, match="must be absolute"):
        hostpath.setup({"path": "relative"})


# -- downward API ------------------------------------------------------------------------------

POD = {
    "metadata": {
        "name": "web",
        "namespace": "prod",
        "uid": "1234",
        "labels": {"zone": "a", "app": "web"},
        "annotations": {"note": 'say "hi"\nbye', "tab": "a\tb", "uni": "héllo", "bell": "\x07\x01"},
    },
    "spec": {
        "containers": [
            {
                "name": "c",
                "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "1"}},
            },
            {"name": "bare"},
        ],
        "initContainers": [{"name": "init", "resources": {"requests": {"memory": "1Gi"}}}],
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web"),
        ("metadata.namespace", "prod"),
        ("metadata.uid", "1234"),
        ("metadata.labels", 'app="web"\nzone="a"'),
        ("metadata.labels['zone']", "a"),
        ("metadata.labels['none']", ""),
        ("metadata.annotations['note']", 'say "hi"\nbye'),
    ],
)
def test_downward_field_values(path: str, expected: str) -> None:
    assert downwardapi.field_value(POD, path) == expected


def test_downward_annotations_are_sorted_go_quoted_lines() -> None:
    assert downwardapi.field_value(POD, "metadata.annotations") == (
        'bell="\\a\\x01"\nnote="say \\"hi\\"\\nbye"\ntab="a\\tb"\nuni="héllo"'
    )


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("spec.nodeName", "unsupported fieldPath: spec.nodeName"),
        ("metadata.name['x']", "fieldPath \"metadata.name['x']\" does not support subscript"),
    ],
)
def test_downward_unsupported_fields(path: str, error: str) -> None:
    with pytest.raises(VolumeError) as caught:
        downwardapi.field_value(POD, path)
    assert str(caught.value) == error


ALLOCATABLE = {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "100Gi"}


@pytest.mark.parametrize(
    ("container", "resource", "divisor", "expected"),
    [
        ("c", "limits.cpu", None, "1"),  # 250m rounds up to a whole core
        ("c", "limits.cpu", "1m", "250"),
        ("c", "limits.memory", None, str(64 * 1024 * 1024)),
        ("c", "limits.memory", "1Mi", "64"),
        ("c", "requests.cpu", "1m", "1000"),
        ("c", "requests.memory", None, "0"),
        ("bare", "limits.cpu", None, "2"),  # unset limits read as node allocatable
        ("bare", "limits.memory", "1Gi", "8"),
        ("bare", "limits.ephemeral-storage", "1Gi", "100"),
        ("init", "requests.memory", "1Mi", "1024"),
    ],
)
def test_downward_resource_values(container: str, resource: str, divisor: str | None, expected: str) -> None:
    ref = {"containerName": container, "resource": resource}
    if divisor:
        ref["divisor"] = divisor
    assert downwardapi.resource_value(POD, ref, ALLOCATABLE) == expected


def test_downward_payload_modes_and_aggregated_errors() -> None:
    items = [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "sub/labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o400},
        {
            "path": "cpu",
            "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"},
        },
    ]
    assert downwardapi.make_payload(POD, items, 0o644, ALLOCATABLE) == {
        "name": FileProjection(b"web", 0o644),
        "sub/labels": FileProjection(b'app="web"\nzone="a"', 0o400),
        "cpu": FileProjection(b"250", 0o644),
    }
    bad = [
        {"path": "a", "fieldRef": {"fieldPath": "status.podIP"}},
        {"path": "b", "resourceFieldRef": {"containerName": "nope", "resource": "limits.cpu"}},
    ]
    with pytest.raises(VolumeError) as caught:
        downwardapi.make_payload(POD, bad, 0o644, ALLOCATABLE)
    assert str(caught.value) == "[unsupported fieldPath: status.podIP, container nope not found]"


# -- configMap / secret ------------------------------------------------------------------------

CONFIGMAP = {
    "metadata": {"name": "cfg"},
    "data": {"a.conf": "alpha", "b.conf": "beta"},
    "binaryData": {"blob": base64.b64encode(b"\x00\xff").decode()},
}


def test_configmap_all_keys_with_default_mode() -> None:
    assert configmap.make_payload(None, CONFIGMAP, 0o640, optional=False) == {
        "a.conf": FileProjection(b"alpha", 0o640),
        "b.conf": FileProjection(b"beta", 0o640),
        "blob": FileProjection(b"\x00\xff", 0o640),
    }


def test_configmap_items_paths_and_modes() -> None:
    items = [{"key": "a.conf", "path": "etc/a", "mode": 0o400}, {"key": "blob", "path": "bin"}]
    assert configmap.make_payload(items, CONFIGMAP, 0o644, optional=False) == {
        "etc/a": FileProjection(b"alpha", 0o400),
        "bin": FileProjection(b"\x00\xff", 0o644),
    }


def test_configmap_missing_item_key() -> None:
    items = [{"key": "nope", "path": "x"}, {"key": "a.conf", "path": "a"}]
    with pytest.raises(VolumeError) as caught:
        configmap.make_payload(items, CONFIGMAP, 0o644, optional=False)
    assert str(caught.value) == "configmap references non-existent config key: nope"
    assert configmap.make_payload(items, CONFIGMAP, 0o644, optional=True) == {
        "a": FileProjection(b"alpha", 0o644)
    }


class Objects:
    """Stands in for ObjectReader: objects by name, None when absent."""

    def __init__(self, **objects: dict) -> None:
        self.objects = objects

    async def configmap(self, namespace: str, name: str) -> dict | None:
        return self.objects.get(name)

    async def secret(self, namespace: str, name: str) -> dict | None:
        return self.objects.get(name)


async def test_configmap_source_missing_object() -> None:
    reader = Objects()
    with pytest.raises(VolumeError) as caught:
        await configmap.payload(reader, "ns", {"name": "y"})  # type: ignore[arg-type]
    assert str(caught.value) == 'configmap "y" not found'
    assert await configmap.payload(reader, "ns", {"name": "y", "optional": True}) == {}  # type: ignore[arg-type]


async def test_configmap_source_default_mode() -> None:
    reader = Objects(cfg=CONFIGMAP)
    files = await configmap.payload(reader, "ns", {"name": "cfg", "defaultMode": 0o600})  # type: ignore[arg-type]
    assert {f.mode for f in files.values()} == {0o600}


async def test_secret_is_base64_decoded_and_missing_keys_named() -> None:
    obj = {"data": {"user": base64.b64encode(b"admin").decode(), "empty": ""}}
    reader = Objects(creds=obj)
    files = await secret.payload(reader, "ns", {"secretName": "creds"})  # type: ignore[arg-type]
    assert files == {"user": FileProjection(b"admin", 0o644), "empty": FileProjection(b"", 0o644)}
    with pytest.raises(VolumeError) as caught:
        secret.make_payload([{"key": "pw", "path": "pw"}], obj, 0o644, optional=False)
    assert str(caught.value) == "references non-existent secret key: pw"
    with pytest.raises(VolumeError) as caught:
        await secret.payload(reader, "ns", {"secretName": "other"})  # type: ignore[arg-type]
    assert str(caught.value) == 'secret "other" not found'


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "age", "due"),
    [
        (3600, 2879, False),
        (3600, 2880, True),  # 80 % of an hour
        (365 * 86400, 86399, False),
        (365 * 86400, 86400, True),  # a year-long token is renewed daily
    ],
)
def test_token_refresh_schedule(lifetime: int, age: int, due: bool) -> None:
    issued = 1_000_000.0
    token = Token("t", expires=issued + lifetime, lifetime=lifetime)
    assert token.requires_refresh(issued + age) is due


# -- persistent volumes ------------------------------------------------------------------------


def test_pv_paths_for_host_path_and_local(tmp_path: Path) -> None:
    host = {
        "metadata": {"name": "h"},
        "spec": {"hostPath": {"path": str(tmp_path / "h"), "type": "DirectoryOrCreate"}},
    }
    assert persistentvolumeclaim.pv_path(host) == tmp_path / "h"
    assert (tmp_path / "h").is_dir()
    local = {
        "metadata": {"name": "l"},
        "spec": {"local": {"path": str(tmp_path)}, "capacity": {"storage": "1Gi"}},
    }
    assert persistentvolumeclaim.pv_path(local) == tmp_path
    gone = {"metadata": {"name": "g"}, "spec": {"local": {"path": str(tmp_path / "gone")}}}
    with pytest.raises(VolumeError) as caught:
        persistentvolumeclaim.pv_path(gone)
    assert str(caught.value) == f'path "{tmp_path}/gone" does not exist'


def test_pv_of_another_kind_is_unsupported() -> None:
    nfs = {
        "metadata": {"name": "n"},
        "spec": {"nfs": {"server": "x", "path": "/"}, "capacity": {"storage": "1Gi"}, "accessModes": ["RWO"]},
    }
    with pytest.raises(VolumeError) as caught:
        persistentvolumeclaim.pv_path(nfs)
    assert str(caught.value) == 'unsupported volume type: PersistentVolume "n" has source nfs'


# -- emptyDir medium Memory ---------------------------------------------------------------------


def _limited(*memory: str | None, init: str | None = None) -> dict:
    def container(limit: str | None) -> dict:
        return {"name": "c", "resources": {"limits": {"memory": limit}} if limit else {}}

    spec: dict = {"containers": [container(m) for m in memory]}
    if init is not None:
        spec["initContainers"] = [container(init)]
    return {"spec": spec}


@pytest.mark.parametrize(
    ("pod", "size_limit", "allocatable", "expected"),
    [
        (_limited(None), None, {}, None),  # nothing known: the kernel's default
        (_limited(None), None, {"memory": "8Gi"}, 8 << 30),
        (_limited("64Mi", "64Mi"), None, {"memory": "8Gi"}, 128 << 20),  # the pod's limit
        (_limited("64Mi", None), None, {"memory": "8Gi"}, 8 << 30),  # one unlimited container: no pod limit
        (_limited("64Mi", init="1Gi"), None, {"memory": "8Gi"}, 1 << 30),  # the largest init container
        (_limited("64Mi"), "1Mi", {"memory": "8Gi"}, 1 << 20),  # a smaller sizeLimit wins
        (_limited("64Mi"), "1Gi", {"memory": "8Gi"}, 64 << 20),  # a larger one does not
    ],
    ids=["none", "allocatable", "pod-limit", "unlimited-container", "init", "size-limit", "large-size-limit"],
)
def test_memory_empty_dir_size(
    pod: dict, size_limit: str | None, allocatable: dict, expected: int | None
) -> None:
    source = {"medium": "Memory", **({"sizeLimit": size_limit} if size_limit else {})}
    assert emptydir.memory_size(source, pod, allocatable) == expected
