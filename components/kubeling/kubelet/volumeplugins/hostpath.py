"""hostPath: a path of the node, used in place, after upstream's type check.

Types and messages as upstream's checkTypeInternal: "" checks nothing;
DirectoryOrCreate makes the directory (0755, parents too) and FileOrCreate
the file (0644, parent must exist) when missing; the others must already be
what they say, else ``hostPath type check failed: <path> is not a <kind>``.
Type checks follow symlinks, as stat(2) does upstream.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kubeling.kubelet.volumeplugins.base import Obj, VolumeError

_KINDS = {
    "Directory": (stat.S_ISDIR, "a directory"),
    "File": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket file"),
    "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def _is(path: str, test) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(test(os.stat(path).st_mode))
    except OSError:
        return False


def check_type(path: str, kind: str) -> None:
    """Raise VolumeError unless ``path`` fits hostPath type ``kind`` (creating it for *OrCreate)."""
    if kind == "":
        return
    if kind == "DirectoryOrCreate":
        if not os.path.lexists(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
            os.chmod(path, 0o755)  # past the umask
        kind = "Directory"
    elif kind == "FileOrCreate":
        if not os.path.lexists(path):
            try:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
            except OSError as exc:
                raise VolumeError(f"hostPath type check failed: {path}: {exc.strerror}") from exc
            os.close(fd)
        kind = "File"
    if kind not in _KINDS:
        raise VolumeError(f"{kind} is an invalid volume type")
    test, what = _KINDS[kind]
    if not _is(path, test):
        raise VolumeError(f"hostPath type check failed: {path} is not {what}")


def setup(source: Obj) -> Path:
    path = source.get("path") or ""
    if not path.startswith("/"):
        raise VolumeError(f"hostPath path {path!r} must be absolute")
    check_type(path, source.get("type") or "")
    return Path(path)
