"""AtomicWriter: the ..data symlink layout, atomic swaps, removed keys, modes, no-op rewrites."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubeling.kubelet.atomicwriter import DATA_DIR_NAME, AtomicWriter, FileProjection, PayloadError


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ts_dirs(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.startswith("..") and p.name != DATA_DIR_NAME)


def test_first_write_lays_out_data_link_and_relative_symlinks(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "vol")
    assert writer.write({"a": FileProjection(b"1"), "dir/b": FileProjection(b"2", 0o600)})
    target = tmp_path / "vol"
    data_link = os.readlink(target / DATA_DIR_NAME)
    assert data_link.startswith("..") and "/" not in data_link
    assert os.readlink(target / "a") == "..data/a"
    assert os.readlink(target / "dir") == "..data/dir"
    assert (target / "a").read_bytes() == b"1"
    assert (target / "dir" / "b").read_bytes() == b"2"
    assert mode_of(target / "a") == 0o644
    assert mode_of(target / "dir" / "b") == 0o600
    assert sorted(os.listdir(target)) == sorted([DATA_DIR_NAME, data_link, "a", "dir"])


def test_update_swaps_data_dir_and_removes_old_one(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    writer.write({"a": FileProjection(b"old")})
    first = os.readlink(target / DATA_DIR_NAME)
    # A reader holding the old directory open keeps a consistent view until it re-resolves.
    old_fd = os.open(target / first, os.O_RDONLY)
    try:
        assert writer.write({"a": FileProjection(b"new")})
        second = os.readlink(target / DATA_DIR_NAME)
        assert second != first
        assert (target / "a").read_bytes() == b"new"
        assert ts_dirs(target) == [second]
    finally:
        os.close(old_fd)


def test_removed_keys_disappear_and_new_keys_appear(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    writer.write({"keep": FileProjection(b"k"), "gone": FileProjection(b"g"), "sub/x": FileProjection(b"x")})
    writer.write({"keep": FileProjection(b"k"), "added": FileProjection(b"a")})
    assert sorted(p for p in os.listdir(target) if not p.startswith("..")) == ["added", "keep"]
    assert (target / "added").read_bytes() == b"a"
    assert not os.path.lexists(target / "gone")
    assert not os.path.lexists(target / "sub")


def test_unchanged_payload_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    payload = {"a": FileProjection(b"same", 0o400)}
    assert writer.write(payload)
    before = os.readlink(target / DATA_DIR_NAME)
    assert not writer.write(payload)
    assert os.readlink(target / DATA_DIR_NAME) == before


def test_mode_change_alone_is_an_update(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    writer.write({"a": FileProjection(b"x", 0o644)})
    assert writer.write({"a": FileProjection(b"x", 0o400)})
    assert mode_of(target / "a") == 0o400


def test_empty_payload_leaves_only_the_data_link(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    writer.write({"a": FileProjection(b"x")})
    writer.write({})
    assert [p for p in os.listdir(target) if not p.startswith("..")] == []
    assert (target / DATA_DIR_NAME).is_dir()


def test_set_perms_runs_on_the_new_directory_before_the_swap(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    seen: list[tuple[str, bool]] = []

    def set_perms(ts_dir: Path) -> None:
        seen.append((ts_dir.name, os.path.lexists(target / DATA_DIR_NAME)))

    AtomicWriter(target).write({"a": FileProjection(b"x")}, set_perms)
    assert seen == [(os.readlink(target / DATA_DIR_NAME), False)]


@pytest.mark.parametrize(
    "path",
    ["/abs", "../up", "a/../../b", "..hidden", ""],
    ids=["absolute", "dotdot", "nested-dotdot", "dotdot-prefix", "empty"],
)
def test_invalid_paths_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(PayloadError):
        AtomicWriter(tmp_path / "vol").write({path: FileProjection(b"x")})
    assert not (tmp_path / "up").exists()
