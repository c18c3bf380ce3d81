"""The base image's root filesystem: debootstrap, a venv of wheels, slimming, ``docker import``.

Runs on the host as root, in this order:

1. :func:`ensure_image_tools` installs debootstrap through apt when it is missing;
2. :func:`debootstrap` makes a Debian minbase tree with the node packages, from
   the mirror this host's apt uses (read at run time, see ``sources``);
3. :func:`install_venv` copies the wheelhouse into the tree and, chrooted,
   makes the venv and installs it with pip run from its own wheel and
   ``--no-index`` (no network, no pip config, no cache), then removes the copy
   and the schemas of the Kubernetes releases kubeling does not serve;
4. :func:`slim` drops what a container never reads (docs, man pages, locales,
   apt lists and caches, logs) and everything naming the mirror or this host
   (``sources.list``, ``resolv.conf``, ``hostname``);
5. :func:`import_rootfs` streams ``tar`` of the tree into ``docker import``:
   the base is one layer.

:func:`scratch_dir` removes the tree afterwards, unmounting whatever a failed
debootstrap left mounted inside it first (it mounts /proc and /sys there).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from kubeling.image.errors import ImageError
from kubeling.image.recipes import DEBIAN_SUITE, PACKAGES, SCHEMA_DIR, SITE_PACKAGES, VENV
from kubeling.image.wheelhouse import REQUIREMENTS, pip_wheel

# Relative to the root: directory contents removed by slim().
SLIMMED_DIRS = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/linda",
    "var/lib/apt/lists",
    "var/log",
    "tmp",
)
# Caches whose directories apt and debconf still need: only the regenerable files go.
SLIMMED_GLOBS = ("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/cache/debconf/*-old")
# Files that would carry this host's mirror, name or resolver into the image.
HOST_FILES = ("etc/resolv.conf", "etc/hostname", "etc/apt/sources.list", "etc/apt/sources.list.d")
# Later apt-get installs in derived images skip the same paths.
DPKG_NODOC = """\
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""
SOURCES_PLACEHOLDER = "# kubeling images carry no apt mirror: add one here to install packages.\n"
_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def _run(command: Sequence[str], what: str, *, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stderr + result.stdout).strip().splitlines()[-15:])
        raise ImageError(f"{what} failed (exit {result.returncode}):\n{tail}")


def ensure_image_tools() -> None:
    """debootstrap (and root, which it needs) are present; installs debootstrap via apt when missing."""
    if os.geteuid() != 0:
        raise ImageError("building the base image needs root (debootstrap and chroot)")
    if shutil.which("debootstrap"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-qq", "debootstrap"], "apt-get install debootstrap", env=env)


@contextlib.contextmanager
def scratch_dir(parent: Path) -> Iterator[Path]:
    """A directory for a root filesystem, removed (after unmounting anything inside) on exit."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="rootfs-", dir=parent))
    try:
        yield path
    finally:
        for mount in reversed(_mounts_under(path)):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        # --one-file-system: never descend into a mount that survived the unmount above.
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted(p for p in points if p.startswith(prefix))


def debootstrap(target: Path, mirror: str, packages: Sequence[str] = PACKAGES) -> None:
    """Debian ``DEBIAN_SUITE`` minbase with ``packages`` into ``target``."""
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            "--components=main",
            f"--include={','.join(packages)}",
            DEBIAN_SUITE,
            str(target),
            mirror,
        ],
        "debootstrap",
    )


def install_venv(root: Path, wheelhouse: Path) -> None:
    """The venv at ``VENV`` inside ``root`` with every requirement of the wheelhouse, offline."""
    staged = root / "tmp" / "wheelhouse"
    shutil.copytree(wheelhouse, staged)
    try:
        inside = Path("/tmp/wheelhouse")
        pip = inside / pip_wheel(wheelhouse).name / "pip"  # pip runs from its own wheel
        _run(
            ["chroot", str(root), "python3", "-m", "venv", "--without-pip", VENV],
            "creating the venv",
            env=_CHROOT_ENV,
        )
        _run(
            [
                "chroot", str(root), f"{VENV}/bin/python", str(pip), "install",
                "--isolated", "--no-cache-dir", "--no-index", "--disable-pip-version-check",
                "--find-links", str(inside), "--requirement", str(inside / REQUIREMENTS),
            ],
            "installing the wheelhouse into the venv",
            env=_CHROOT_ENV,
        )  # fmt: skip
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    _prune_schemas(root)


def _prune_schemas(root: Path) -> None:
    kept = root / SITE_PACKAGES.lstrip("/") / SCHEMA_DIR
    if not kept.is_dir():
        raise ImageError(f"the venv has no {SCHEMA_DIR}: does pyproject still depend on kubernetes-validate?")
    for other in kept.parent.iterdir():
        if other != kept:
            shutil.rmtree(other)


def slim(root: Path) -> None:
    """Remove docs, caches and host-specific files; keep later apt installs doc-free."""
    for relative in SLIMMED_DIRS:
        directory = root / relative
        if directory.is_dir():
            for child in directory.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    for pattern in SLIMMED_GLOBS:
        for path in root.glob(pattern):
            path.unlink()
    for relative in HOST_FILES:
        path = root / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list").write_text(SOURCES_PLACEHOLDER)
    (root / "etc/hostname").write_text("localhost\n")
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/01-kubeling-nodoc").write_text(DPKG_NODOC)
    (root / "tmp").chmod(0o1777)


def import_rootfs(root: Path, ref: str, changes: Sequence[str]) -> None:
    """``tar -C root -c . | docker import`` with the given image config changes."""
    import_cmd = ["docker", "import"]
    for change in changes:
        import_cmd += ["--change", change]
    import_cmd += ["-", ref]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        imported = subprocess.run(import_cmd, stdin=tar.stdout, capture_output=True, text=True)
    finally:
        tar.stdout.close()
        tar_err = tar.stderr.read().decode() if tar.stderr else ""
        tar.wait()
    if tar.returncode != 0:
        raise ImageError(f"tar of {root} failed (exit {tar.returncode}): {tar_err.strip()}")
    if imported.returncode != 0:
        raise ImageError(f"docker import {ref} failed: {imported.stderr.strip()}")
