"""The local image recipes: a reproducible rootfs with busybox, its applets and the users."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import docker
import pytest

from kubeling.kubelet import images


def _members() -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(images.rootfs_tar())) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_rootfs_is_reproducible() -> None:
    assert images.rootfs_tar() == images.rootfs_tar()
    recipe = images._recipes()[0]
    assert images.build_context(recipe, b"x")[1] == images.build_context(recipe, b"x")[1]
    assert images.build_context(recipe, b"x")[1] != images.build_context(recipe, b"y")[1]


def test_rootfs_has_busybox_applets_users_and_tmp() -> None:
    members = _members()
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].isfile()
    for applet in ("bin/sh", "bin/sleep", "usr/sbin/httpd", "usr/bin/wget", "usr/bin/nslookup"):
        assert members[applet].issym() and members[applet].linkname == "/bin/busybox", applet
    assert members["tmp"].mode == 0o1777
    with tarfile.open(fileobj=io.BytesIO(images.rootfs_tar())) as tar:
        passwd = tar.extractfile("etc/passwd").read().decode()
        group = tar.extractfile("etc/group").read().decode()
    assert "root:x:0:0:" in passwd and "nobody:x:65534:65534:" in passwd
    assert "nobody:x:65534:" in group


def test_image_names_carry_the_kubeling_version() -> None:
    from kubeling import __version__

    assert f"kubeling/pause:{__version__}" == images.PAUSE_IMAGE
    assert f"kubeling/busybox:{__version__}" == images.BUSYBOX_IMAGE


class EmptyEngine:
    """A Docker client whose engine holds none of kubeling's images."""

    class images:  # mirrors docker.DockerClient.images
        @staticmethod
        def get(ref: str) -> None:
            raise docker.errors.ImageNotFound(ref)


def test_missing_images_without_busybox_is_a_clear_error(tmp_path: Path) -> None:
    """Nothing to run pods with and nothing to build it from: one sentence, not a traceback."""
    with pytest.raises(images.ImagesUnavailable, match="busybox-static") as raised:
        images.ensure_images(EmptyEngine(), binary=str(tmp_path / "no-busybox"))  # type: ignore[arg-type]
    assert images.PAUSE_IMAGE in str(raised.value) and "kubeling image load" in str(raised.value)
