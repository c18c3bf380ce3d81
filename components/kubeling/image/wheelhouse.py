"""Wheels built on this host for the image: kubeling's dependencies (cached) and kubeling itself.

The image installs with ``pip install --no-index --find-links``, so it never
reaches a package index; the host does, once per dependency list.  The
wheelhouse lives in ``<cache>/wheelhouse/<hash>/``: the hash covers the
dependency list and the Python version, a ``.complete`` marker is written
last so an interrupted download is redone, and ``requirements.txt`` beside
the wheels lists what to install.  The pip wheel itself is in there too: the
image's venv is made without pip (Debian's python3-venv is not installed) and
pip is run from its wheel to install everything, itself included.

The kubeling wheel is built from a copy of the checkout in a temporary
directory, so setuptools leaves no ``build/`` or ``*.egg-info`` in the
working tree other people share.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from kubeling.image.errors import ImageError
from kubeling.image.recipes import IMAGE_PYTHON
from kubeling.image.stamp import stamp

REQUIREMENTS = "requirements.txt"
_COMPLETE = ".complete"
_COPIED_TOP_FILES = ("pyproject.toml", "README.md")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def project_dependencies(pyproject: Path) -> list[str]:
    """``[project] dependencies`` of a pyproject.toml, as written."""
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ImageError(f"cannot read dependencies from {pyproject}: {exc}") from None
    deps = data.get("project", {}).get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ImageError(f"{pyproject}: [project] dependencies must be a list of strings")
    return deps


def check_host_python() -> None:
    """The host builds cp3X wheels for the image's interpreter, so their minor versions must agree."""
    if sys.version_info[:2] != IMAGE_PYTHON:
        want = ".".join(map(str, IMAGE_PYTHON))
        raise ImageError(
            f"the image's python3 is {want} but this is Python {sys.version.split()[0]}: "
            f"run kubeling image build from a Python {want} environment"
        )


def wheelhouse_dir(cache_dir: Path, dependencies: list[str]) -> Path:
    key = "\n".join([f"py{IMAGE_PYTHON[0]}{IMAGE_PYTHON[1]}", *sorted(dependencies)])
    return cache_dir / "wheelhouse" / hashlib.sha256(key.encode()).hexdigest()[:16]


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ImageError(f"pip {args[0]} failed (exit {result.returncode}):\n{tail}")


def ensure_wheelhouse(cache_dir: Path, dependencies: list[str], *, refresh: bool = False) -> Path:
    """A directory with wheels for ``dependencies`` (and pip), built once per dependency list."""
    check_host_python()
    target = wheelhouse_dir(cache_dir, dependencies)
    if (target / _COMPLETE).exists() and not refresh:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _pip("wheel", "--quiet", "--wheel-dir", str(staging), "pip", *dependencies)
        (staging / REQUIREMENTS).write_text("".join(f"{d}\n" for d in ["pip", *dependencies]))
        (staging / _COMPLETE).touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def pip_wheel(wheelhouse: Path) -> Path:
    """The pip wheel in a wheelhouse (the image runs pip straight from it)."""
    found = sorted(wheelhouse.glob("pip-*.whl"))
    if not found:
        raise ImageError(f"no pip wheel in {wheelhouse}; rebuild with --no-cache")
    return found[-1]


def _backend_installed() -> bool:
    """setuptools that can make wheels: its own bdist_wheel (>= 70.1), or the ``wheel`` package's."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    return (
        importlib.util.find_spec("wheel") is not None
        or importlib.util.find_spec("setuptools.command.bdist_wheel") is not None
    )


def build_kubeling_wheel(root: Path, out_dir: Path, *, version: str | None = None) -> Path:
    """A wheel of kubeling from the checkout at ``root`` (its dependencies are not included).

    ``version``: stamp the copy with this version first (``image/stamp.py``); None keeps the checkout's.
    """
    missing = [name for name in (*_COPIED_TOP_FILES, "components") if not (root / name).exists()]
    if missing:
        raise ImageError(f"{root} is not a kubeling checkout (missing {', '.join(missing)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubeling-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "components", src / "components", ignore=_IGNORED)
        for name in _COPIED_TOP_FILES:
            shutil.copy2(root / name, src / name)
        if version is not None:
            stamp(src, version)
        before = set(out_dir.glob("kubeling-*.whl"))
        # Without build isolation when the backend is at hand: no index needed, seconds instead of tens.
        isolation = ["--no-build-isolation"] if _backend_installed() else []
        _pip("wheel", "--quiet", "--no-deps", *isolation, "--wheel-dir", str(out_dir), str(src))
    wheels = sorted(set(out_dir.glob("kubeling-*.whl")) - before) or sorted(out_dir.glob("kubeling-*.whl"))
    if not wheels:
        raise ImageError(f"pip wheel made no kubeling wheel in {out_dir}")
    return wheels[-1]
