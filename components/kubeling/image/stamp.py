"""Versioned builds: a copy of the checkout stamped with another kubeling version (pure file edits).

``kubeling image build --version 0.2.0`` must yield a kubeling that *reports*
0.2.0 (``kubeling --version``, the kubelet's ``kubeletVersion``, the
apiserver's ``/version``), not only an image tagged 0.2.0: upgrades are
tested from one real version to another.  The version lives in two places,
``components/kubeling/__init__.py`` (what the code reports) and
``pyproject.toml`` (the wheel's metadata, what ``pip install kubeling==V``
matches); both are rewritten in the temporary copy a wheel is built from,
never in the working tree.

Only canonical PEP 440 release versions are stamped (``1.2.3``, ``0.2.0rc1``,
``0.2.0.post1``, ``0.3.0.dev2``): a wheel needs a PEP 440 version, and the
canonical form is the one pip reports back, so the hosts' check of "which
version is installed" compares equal strings.  Any other tag (``dev_3``,
``0.2.0-rc.1``) keeps the checkout's own version; the tag only names the images.
"""

from __future__ import annotations

import re
from pathlib import Path

from kubeling.image.errors import ImageError

INIT = Path("components/kubeling/__init__.py")
PYPROJECT = Path("pyproject.toml")
_INIT_VERSION = re.compile(r'^__version__ = "([^"]*)"$', re.MULTILINE)
# The first ``version = "..."`` at the start of a line: [project] comes first in pyproject.toml.
_PROJECT_VERSION = re.compile(r'^version = "([^"]*)"$', re.MULTILINE)
_CANONICAL = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")


def tree_version(root: Path) -> str:
    """The ``__version__`` a checkout (or a copy of one) declares."""
    try:
        found = _INIT_VERSION.search((root / INIT).read_text())
    except OSError as exc:
        raise ImageError(f"cannot read kubeling's version from {root / INIT}: {exc}") from None
    if found is None:
        raise ImageError(f"{root / INIT} has no __version__ line")
    return found.group(1)


def version_to_stamp(root: Path, version: str) -> str | None:
    """``version`` when a build of it must rewrite the tree's version, else None (same, or no PEP 440)."""
    if not _CANONICAL.fullmatch(version):
        return None
    return None if version == tree_version(root) else version


def stamp(tree: Path, version: str) -> None:
    """Rewrite the version of the copy at ``tree`` (both files, or an error naming what is missing)."""
    for relative, pattern, line in (
        (INIT, _INIT_VERSION, f'__version__ = "{version}"'),
        (PYPROJECT, _PROJECT_VERSION, f'version = "{version}"'),
    ):
        path = tree / relative
        text = path.read_text()
        rewritten, count = pattern.subn(line, text, count=1)
        if count != 1:
            raise ImageError(f"cannot stamp version {version}: no version line in {path}")
        path.write_text(rewritten)
