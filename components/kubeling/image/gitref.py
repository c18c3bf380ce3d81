"""Build from another tree: a directory given as ``--source``, or a git ref exported from the checkout.

``kubeling image build --git-ref v0.1.0`` builds the kubeling of that commit
(e.g. the previous release, to upgrade from): ``git archive`` of the ref is
unpacked once into ``<cache>/git-trees/<commit>/`` (a commit never changes, so
the tree is reused by later builds and by ``image save --git-ref``).  Its
default version is the one that commit declares.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from kubeling.image.errors import ImageError


def _git(checkout: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"git {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ImageError(f"git {' '.join(args)}: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout


def export_ref(checkout: Path, ref: str, cache: Path) -> Path:
    """The tree of ``ref`` (a branch, tag or commit of ``checkout``), unpacked under ``cache``."""
    if ref.startswith("-"):
        raise ImageError(f"git ref {ref!r} must not start with '-'")
    commit = _git(checkout, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    target = cache / "git-trees" / commit
    if (target / "pyproject.toml").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=target.parent))
    try:
        archive = staging / "tree.tar"
        archive.write_bytes(_git(checkout, "archive", "--format=tar", commit))
        with tarfile.open(archive) as tar:
            tar.extractall(staging / "tree", filter="data")
        shutil.rmtree(target, ignore_errors=True)
        (staging / "tree").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def checked_source(path: Path) -> Path:
    """``--source DIR``: a directory that looks like a kubeling checkout."""
    root = path.expanduser().resolve()
    if not (root / "pyproject.toml").is_file() or not (root / "components" / "kubeling").is_dir():
        raise ImageError(f"{path} is not a kubeling checkout (no pyproject.toml or components/kubeling)")
    return root
