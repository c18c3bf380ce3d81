"""The images kubeling needs, built locally from Debian's busybox-static (no registry).

Two images, both ``FROM scratch`` over one small root filesystem:

- :data:`PAUSE_IMAGE` — the sandbox container that holds a pod's namespaces;
- :data:`BUSYBOX_IMAGE` — a demo/test image with sh, sleep, httpd, wget, nslookup.

The rootfs is a tarball made here in Python: ``/bin/busybox`` plus one symlink
per applet (where ``busybox --list-full`` puts it), ``/etc/passwd`` and
``/etc/group`` with root and nobody (65534), ``/tmp`` mode 1777 and an
``/etc/hosts`` stub.  Every tar entry has a fixed mtime and owner, so the same
busybox binary always gives the same bytes; the sha256 of the build context is
stored in the image label :data:`RECIPE_LABEL`, and :func:`ensure_images`
rebuilds an image only when it is missing or its label differs (a changed
recipe or a new busybox).

The docker SDK is synchronous: async callers wrap these functions in
``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from kubeling import __version__

log = logging.getLogger(__name__)

PAUSE_IMAGE = f"kubeling/pause:{__version__}"
BUSYBOX_IMAGE = f"kubeling/busybox:{__version__}"
RECIPE_LABEL = "io.kubeling.image.recipe"
BUSYBOX_BINARY = "/bin/busybox"

# The pause process: PID 1 of the sandbox.  A busybox sh loop suffices because
# ash's `wait` blocks in waitpid(-1), so it also reaps any orphan re-parented to
# it (zombies), and a trapped signal interrupts `wait` at once: SIGTERM/SIGINT
# make it exit 0 without waiting out the sleep.
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 2147483647 & wait $!; done"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
_MTIME = 0  # fixed, so the tarball (and its hash) is reproducible


@dataclass(frozen=True)
class ImageRecipe:
    ref: str
    dockerfile: str


def _recipes() -> list[ImageRecipe]:
    pause = (
        "FROM scratch\nADD rootfs.tar /\n"
        f'ENTRYPOINT ["/bin/sh", "-c", "{PAUSE_SCRIPT}"]\n'
        "STOPSIGNAL SIGTERM\n"
    )
    busybox = 'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["sh"]\n'
    return [ImageRecipe(PAUSE_IMAGE, pause), ImageRecipe(BUSYBOX_IMAGE, busybox)]


def _add(
    tar: tarfile.TarFile,
    name: str,
    *,
    data: bytes | None = None,
    mode: int = 0o644,
    kind: bytes = tarfile.REGTYPE,
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = _MTIME, 0, 0, "root", "root"
    info.type, info.mode, info.linkname = kind, mode, link
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def applets(binary: str = BUSYBOX_BINARY) -> list[str]:
    """Applet paths (relative, e.g. ``usr/bin/wget``) the busybox binary installs."""
    out = subprocess.run([binary, "--list-full"], check=True, capture_output=True, text=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def rootfs_tar(binary: str = BUSYBOX_BINARY) -> bytes:
    """The root filesystem as a reproducible tarball."""
    with open(binary, "rb") as f:
        busybox = f.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in (
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "root",
            "var",
            "var/www",
            "dev",
            "proc",
            "sys",
        ):
            _add(tar, d, kind=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        _add(tar, "bin/busybox", data=busybox, mode=0o755)
        for path in applets(binary):
            if path != "bin/busybox":
                _add(tar, path, kind=tarfile.SYMTYPE, mode=0o777, link="/bin/busybox")
        _add(tar, "etc/passwd", data=_PASSWD.encode())
        _add(tar, "etc/group", data=_GROUP.encode())
        _add(tar, "etc/hosts", data=_HOSTS.encode())
        _add(tar, "etc/nsswitch.conf", data=b"hosts: files dns\n")
    return buf.getvalue()


def build_context(recipe: ImageRecipe, rootfs: bytes) -> tuple[bytes, str]:
    """(the build context tarball, its recipe hash) for one image."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "Dockerfile", data=recipe.dockerfile.encode())
        _add(tar, "rootfs.tar", data=rootfs)
    context = buf.getvalue()
    return context, hashlib.sha256(context).hexdigest()


def _current_recipe(client: docker.DockerClient, ref: str) -> str | None:
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    return (image.labels or {}).get(RECIPE_LABEL)


class ImagesUnavailable(RuntimeError):
    """The pod images are neither present nor buildable here."""


def ensure_images(client: docker.DockerClient | None = None, binary: str = BUSYBOX_BINARY) -> list[str]:
    """Build whichever kubeling image is missing or stale; returns the refs it built."""
    own = client is None
    client = client or docker.from_env(timeout=120)
    try:
        if not Path(binary).exists():
            missing = [r.ref for r in _recipes() if not _current_recipe(client, r.ref)]
            if not missing:
                return []  # a host the images were shipped to (docker load) needs no busybox
            raise ImagesUnavailable(
                f"{' and '.join(missing)} not on this Docker Engine, and no {binary} to build them "
                "from: load them (`kubeling image load`, or `docker load` of the shipped tarballs) "
                "or install Debian's busybox-static"
            )
        rootfs = rootfs_tar(binary)
        built = []
        for recipe in _recipes():
            context, digest = build_context(recipe, rootfs)
            if _current_recipe(client, recipe.ref) == digest:
                continue
            log.info("building %s", recipe.ref)
            client.images.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=recipe.ref,
                labels={RECIPE_LABEL: digest},
                rm=True,
                forcerm=True,
            )
            built.append(recipe.ref)
        return built
    finally:
        if own:
            client.close()


def main() -> None:  # `python -m kubeling.kubelet.images`
    logging.basicConfig(level=os.environ.get("LOGLEVEL", "INFO"))
    for ref in ensure_images():
        print("built", ref)


if __name__ == "__main__":
    main()
