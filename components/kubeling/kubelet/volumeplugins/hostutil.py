"""Host-side helpers: tmpfs mounts, finding mounts under a directory, fsGroup ownership.

Mounts go through ``mount``/``umount`` (the kubelet runs as root), awaited as
subprocesses so the event loop keeps running.  Mount discovery reads
``/proc/self/mountinfo``, which escapes spaces and such as octal (``\\040``).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


class MountCommandError(OSError):
    pass


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        text = output.decode(errors="replace").strip()
        raise MountCommandError(f"{' '.join(command)} failed (exit {process.returncode}): {text}")


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mount_points() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount this process sees."""
    found = []
    for line in MOUNTINFO.read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) >= 5 and right:
            found.append((_unescape(fields[4]), right.split()[0]))
    return found


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (the order to unmount them in)."""
    prefix = str(root).rstrip("/") + "/"
    points = {point for point, _ in mount_points() if point == str(root) or point.startswith(prefix)}
    return sorted(points, key=lambda point: point.count("/"), reverse=True)


def is_mount_point(path: Path) -> bool:
    return any(point == str(path) for point, _ in mount_points())


async def mount_tmpfs(path: Path, size_bytes: int | None = None) -> None:
    options = "rw,nosuid,nodev"
    if size_bytes is not None:
        options += f",size={size_bytes}"
    await _run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path))


async def unmount(path: str) -> None:
    await _run("umount", path)


def set_volume_ownership(root: Path, fs_group: int, *, read_only: bool) -> None:
    """fsGroup as upstream: group-own everything, add g+rw (g+r read-only), setgid + x on directories.

    Symlinks are chowned with lchown and never followed or chmodded.
    """
    mask = 0o440 if read_only else 0o660

    def apply(path: str) -> None:
        info = os.lstat(path)
        os.lchown(path, -1, fs_group)
        if stat.S_ISLNK(info.st_mode):
            return
        extra = mask | (stat.S_ISGID | 0o110 if stat.S_ISDIR(info.st_mode) else 0)
        os.chmod(path, stat.S_IMODE(info.st_mode) | extra)

    apply(str(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            apply(os.path.join(dirpath, name))
