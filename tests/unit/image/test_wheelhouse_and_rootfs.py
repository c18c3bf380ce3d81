"""The pure parts of the wheelhouse and the base rootfs: dependency lists, cache keys, slimming."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeling.image import rootfs, wheelhouse
from kubeling.image.errors import ImageError


def test_dependencies_come_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "k"\ndependencies = ["aiohttp>=3.9", "dnslib>=0.9"]\n')
    assert wheelhouse.project_dependencies(pyproject) == ["aiohttp>=3.9", "dnslib>=0.9"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[project\n", "cannot read dependencies", id="bad-toml"),
        pytest.param("[project]\ndependencies = 'aiohttp'\n", "must be a list of strings", id="not-a-list"),
    ],
)
def test_bad_pyproject_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ImageError, match=message):
        wheelhouse.project_dependencies(tmp_path / "pyproject.toml")


def test_wheelhouse_is_keyed_by_the_dependency_set(tmp_path: Path) -> None:
    a = wheelhouse.wheelhouse_dir(tmp_path, ["b>=1", "a>=2"])
    assert a == wheelhouse.wheelhouse_dir(tmp_path, ["a>=2", "b>=1"])
    assert a != wheelhouse.wheelhouse_dir(tmp_path, ["a>=2", "b>=1", "c"])
    assert a.parent == tmp_path / "wheelhouse"


def test_kubeling_wheel_needs_a_checkout(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a kubeling checkout"):
        wheelhouse.build_kubeling_wheel(tmp_path, tmp_path / "out")


def _debootstrapped(root: Path) -> Path:
    for relative in ("usr/share/doc/python3", "usr/share/man/man1", "var/lib/apt/lists/partial",
                     "var/cache/apt/archives/partial", "var/cache/debconf", "etc/apt/sources.list.d",
                     "usr/share/locale/de/LC_MESSAGES", "var/log/apt", "tmp", "etc/dpkg"):  # fmt: skip
        (root / relative).mkdir(parents=True, exist_ok=True)
    files = {
        "usr/share/doc/python3/copyright": "c",
        "usr/share/man/man1/ls.1.gz": "m",
        "var/lib/apt/lists/mirror.example_dists_bookworm_InRelease": "mirror.example",
        "var/cache/apt/pkgcache.bin": "x",
        "var/cache/apt/archives/python3.deb": "x",
        "var/cache/debconf/config.dat": "keep",
        "var/cache/debconf/config.dat-old": "x",
        "var/log/apt/history.log": "mirror.example",
        "etc/apt/sources.list": "deb http://mirror.example/debian bookworm main\n",
        "etc/resolv.conf": "nameserver 192.0.2.1\n",
        "etc/hostname": "buildhost\n",
        "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
    }
    for relative, text in files.items():
        (root / relative).write_text(text)
    return root


def test_slim_drops_docs_caches_and_everything_naming_the_host(tmp_path: Path) -> None:
    root = _debootstrapped(tmp_path)
    rootfs.slim(root)
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert left == [
        "etc/apt/sources.list",
        "etc/dpkg/dpkg.cfg.d/01-kubeling-nodoc",
        "etc/hostname",
        "etc/passwd",
        "var/cache/debconf/config.dat",
    ]
    assert (root / "etc/apt/sources.list").read_text() == rootfs.SOURCES_PLACEHOLDER
    assert (root / "etc/hostname").read_text() == "localhost\n"
    assert (root / "var/cache/apt/archives/partial").is_dir()  # apt still needs it
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert "path-exclude=/usr/share/doc/*" in (root / "etc/dpkg/dpkg.cfg.d/01-kubeling-nodoc").read_text()
