"""Atomic updates of a directory of projected files (configMap, secret, downwardAPI, projected volumes).

A container bind-mounts the volume directory once and must never see a
half-written update, so the files live in a timestamped directory and the
user-visible names are relative symlinks through one ``..data`` link, as
upstream's AtomicWriter lays them out::

    <target>/..2026_11_23_13_01_47.123456/key   the payload, written fresh per update
    <target>/..data -> ..2026_11_23_13_01_47.123456
    <target>/key -> ..data/key                  one link per top-level name

An update writes a new timestamped directory, points ``..data_tmp`` at it and
renames that over ``..data`` (rename(2) is atomic), then adds links for new
top-level names, removes links for names gone and deletes the old directory.
A payload equal to what is on disk (contents and modes) writes nothing, so
the kubelet may call :meth:`AtomicWriter.write` on every pod sync.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DATA_DIR_NAME = "..data"
DATA_DIR_TMP_NAME = "..data_tmp"


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644
    # Owner for this file only (upstream's FsUser for projected tokens); None keeps the writer's.
    uid: int | None = None


class PayloadError(ValueError):
    """A payload path is absolute, climbs out with '..', or starts with '..' (reserved for the writer)."""


def validate_path(path: str) -> str:
    """The cleaned relative path, or PayloadError (upstream's validatePath rules)."""
    if not path:
        raise PayloadError("invalid path: must not be empty")
    if len(path) > 4096:
        raise PayloadError(f"invalid path: must be less than or equal to 4096 characters: {path!r}")
    if path.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    parts = path.split("/")
    if any(part == ".." for part in parts):
        raise PayloadError(f"invalid path: must not contain '..': {path}")
    if path.startswith(".."):
        raise PayloadError(f"invalid path: must not start with '..': {path}")
    cleaned = str(PurePosixPath(path))
    if cleaned in ("", "."):
        raise PayloadError(f"invalid path: {path!r}")
    return cleaned


class AtomicWriter:
    def __init__(self, target_dir: Path) -> None:
        self.target_dir = target_dir

    def write(
        self, payload: Mapping[str, FileProjection], set_perms: Callable[[Path], None] | None = None
    ) -> bool:
        """Make the directory hold exactly ``payload``; True when anything changed on disk.

        ``set_perms`` runs on the new timestamped directory before it becomes
        visible (fsGroup ownership).
        """
        cleaned = {validate_path(path): projection for path, projection in payload.items()}
        self.target_dir.mkdir(parents=True, exist_ok=True)
        old_ts = self._current_ts_dir()
        old_paths = _walk(old_ts) if old_ts is not None else set()
        new_paths = _with_parents(cleaned)
        to_remove = old_paths - new_paths
        changed = False
        if old_ts is None or to_remove or not _same_payload(cleaned, old_ts):
            new_ts = self._new_ts_dir()
            _write_payload(cleaned, new_ts)
            if set_perms is not None:
                set_perms(new_ts)
            tmp_link = self.target_dir / DATA_DIR_TMP_NAME
            tmp_link.unlink(missing_ok=True)
            tmp_link.symlink_to(new_ts.name)
            os.rename(tmp_link, self.target_dir / DATA_DIR_NAME)
            changed = True
        changed |= self._create_user_visible(cleaned)
        changed |= self._remove_user_visible(to_remove)
        if changed and old_ts is not None and old_ts != self._current_ts_dir():
            shutil.rmtree(old_ts, ignore_errors=True)
        return changed

    # -- internals -----------------------------------------------------------------

    def _current_ts_dir(self) -> Path | None:
        link = self.target_dir / DATA_DIR_NAME
        try:
            target = os.readlink(link)
        except OSError:
            return None
        if "/" in target:  # never ours: we only write a sibling's name
            return None
        path = self.target_dir / target
        return path if path.is_dir() and not path.is_symlink() else None

    def _new_ts_dir(self) -> Path:
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        path = Path(tempfile.mkdtemp(prefix=stamp, dir=self.target_dir))
        path.chmod(0o755)
        return path

    def _create_user_visible(self, payload: Mapping[str, FileProjection]) -> bool:
        created = False
        for top in sorted({path.split("/", 1)[0] for path in payload}):
            link = self.target_dir / top
            if link.is_symlink() and os.readlink(link) == f"{DATA_DIR_NAME}/{top}":
                continue
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(f"{DATA_DIR_NAME}/{top}")
            created = True
        return created

    def _remove_user_visible(self, paths: set[str]) -> bool:
        removed = False
        for path in paths:
            if "/" in path:  # only top-level names have links of their own
                continue
            link = self.target_dir / path
            if link.is_symlink():
                link.unlink()
                removed = True
        return removed


def _with_parents(payload: Mapping[str, FileProjection]) -> set[str]:
    paths: set[str] = set()
    for path in payload:
        parts = path.split("/")
        for index in range(1, len(parts) + 1):
            paths.add("/".join(parts[:index]))
    return paths


def _walk(root: Path) -> set[str]:
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        for name in [*dirnames, *filenames]:
            found.add(str(base / name) if str(base) != "." else name)
    return found


def _same_payload(payload: Mapping[str, FileProjection], ts_dir: Path) -> bool:
    for path, projection in payload.items():
        file = ts_dir / path
        try:
            info = file.lstat()
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or not _mode_covers(info.st_mode, projection.mode):
            return False
        if projection.uid is not None and info.st_uid != projection.uid:
            return False
        if info.st_size != len(projection.data) or file.read_bytes() != projection.data:
            return False
    return True


def _mode_covers(actual: int, wanted: int) -> bool:
    """The file has the wanted bits and at most read bits beyond them (what fsGroup's 0440 mask adds)."""
    actual, wanted = actual & 0o7777, wanted & 0o7777
    return actual & wanted == wanted and actual & ~wanted & ~0o440 == 0


def _write_payload(payload: Mapping[str, FileProjection], ts_dir: Path) -> None:
    for path, projection in payload.items():
        file = ts_dir / path
        file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        file.write_bytes(projection.data)
        file.chmod(projection.mode & 0o7777)
        if projection.uid is not None:
            os.chown(file, projection.uid, -1)
