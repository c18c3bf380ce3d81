"""hostPath: a path of the node, used in place, after upstream's type check.

Types and messages as upstream's checkTypeInternal: "" checks nothing;
DirectoryOrCreate makes the directory (0755 less the umask, parents too) and
FileOrCreate the file (0644 less the umask; the parent must exist) when
missing; the others must exist (``hostPath <path> doesn't exist``) and be
what they say (``hostPath type check failed: <path> is not a directory,
it's a File``).  Type checks follow symlinks, as stat(2) does upstream.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kubeling.kubelet.volumeplugins.base import Obj, VolumeError

_DESCRIPTIONS = {
    "Directory": "directory",
    "File": "file",
    "Socket": "socket file",
    "CharDevice": "character device",
    "BlockDevice": "block device",
}


def file_type(path: str) -> str:
    """The HostPathType name of what is at ``path`` (symlinks followed), as upstream's GetFileType."""
    mode = os.stat(path).st_mode
    for test, name in (
        (stat.S_ISDIR, "Directory"),
        (stat.S_ISREG, "File"),
        (stat.S_ISSOCK, "Socket"),
        (stat.S_ISCHR, "CharDevice"),
        (stat.S_ISBLK, "BlockDevice"),
    ):
        if test(mode):
            return name
    raise OSError("only recognise file, directory, socket, block device and character device")


def check_type(path: str, kind: str) -> None:
    """Raise VolumeError unless ``path`` fits hostPath type ``kind`` (creating it for *OrCreate)."""
    if kind == "":
        return
    if kind == "DirectoryOrCreate":
        if not os.path.exists(path):
            try:
                os.makedirs(path, mode=0o755, exist_ok=True)
            except OSError as exc:
                raise VolumeError(f"mkdir {path}: {exc.strerror.lower()}") from exc
            return
        kind = "Directory"
    elif kind == "FileOrCreate":
        if not os.path.exists(path):
            try:
                os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
            except OSError as exc:
                raise VolumeError(f"open {path}: {exc.strerror.lower()}") from exc
            return
        kind = "File"
    if kind not in _DESCRIPTIONS:
        raise VolumeError(f"{kind} is an invalid volume type")
    if not os.path.exists(path):
        raise VolumeError(f"hostPath {path} doesn't exist")
    description = _DESCRIPTIONS[kind]
    try:
        actual = file_type(path)
    except OSError as exc:
        raise VolumeError(
            f"hostPath type check failed, {path} is not a {description}, unable to determine its type: {exc}"
        ) from exc
    if actual != kind:
        raise VolumeError(f"hostPath type check failed: {path} is not a {description}, it's a {actual}")


def setup(source: Obj) -> Path:
    path = source.get("path") or ""
    if not path.startswith("/"):
        raise VolumeError(f"hostPath path {path!r} must be absolute")
    check_type(path, source.get("type") or "")
    return Path(path)
