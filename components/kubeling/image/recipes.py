"""What the kubeling images are made of: names, versions, content hashes, Dockerfile text (pure).

Two images are built here, each keyed by a hash of what goes into it:

- ``kubeling/base:<hash>`` — Debian minbase + the node tools + a venv at
  :data:`VENV` holding kubeling's dependencies.  Its hash covers the suite,
  the Debian package list, the dependency list from pyproject.toml and
  :data:`BASE_RECIPE_VERSION` (bumped when the recipe changes in a way those
  miss), so it is rebuilt only when one of them changes.
- ``kubeling/kubeling:<version>`` — the base plus a wheel of kubeling built
  from the checkout.  Its label :data:`SOURCE_HASH_LABEL` holds the hash of
  ``components/`` and ``pyproject.toml``; a build is skipped while it matches.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import kubeling
from kubeling.api.schemas import SCHEMA_VERSION_DIR
from kubeling.image.errors import ImageError

DEBIAN_SUITE = "bookworm"
# The image's python3 must match the host's minor version: the host builds the wheels (cp311).
IMAGE_PYTHON = (3, 11)
PACKAGES = ("python3", "iptables", "conntrack", "iproute2", "ca-certificates", "procps")
BASE_RECIPE_VERSION = "2"
# kubernetes-validate ships schemas of every release (~110 MB); kubeling reads only this one.
SCHEMA_DIR = f"kubernetes_validate/kubernetes-json-schema/{SCHEMA_VERSION_DIR}"
VENV = "/opt/kubeling"
SITE_PACKAGES = f"{VENV}/lib/python{IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}/site-packages"
IMAGE_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BASE_REPOSITORY = "kubeling/base"
KUBELING_REPOSITORY = "kubeling/kubeling"
SOURCE_HASH_LABEL = "io.kubeling.source-hash"
BASE_HASH_LABEL = "io.kubeling.base-hash"
BASE_ID_LABEL = "io.kubeling.base-id"
VERSION_ENV = "KUBELING_VERSION"

# Docker's tag grammar: word characters, dots and dashes, at most 128, not starting with . or -.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Files under components/ that are build by-products, not sources.
_SKIPPED_PARTS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


class BadVersion(ImageError):
    """A version that cannot be a Docker tag."""


def resolve_version(explicit: str | None = None) -> str:
    """``--version``, else ``$KUBELING_VERSION``, else the package's version; checked as a Docker tag."""
    version = explicit or os.environ.get(VERSION_ENV) or kubeling.__version__
    if not _TAG.fullmatch(version):
        raise BadVersion(
            f"version {version!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)"
        )
    return version


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        # Length-prefixed, so ("ab", "c") and ("a", "bc") never collide.
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def base_hash(dependencies: Iterable[str], packages: Iterable[str] = PACKAGES) -> str:
    """Hash of everything the base image is made of; order of the lists does not matter."""
    parts = [
        f"recipe={BASE_RECIPE_VERSION}",
        f"suite={DEBIAN_SUITE}",
        f"python={IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}",
        f"schemas={SCHEMA_DIR}",
        "packages=" + ",".join(sorted(set(packages))),
        "dependencies=" + "\n".join(sorted(d.strip() for d in dependencies)),
    ]
    return _digest(p.encode() for p in parts)


def base_ref(digest: str) -> str:
    return f"{BASE_REPOSITORY}:{digest[:12]}"


def kubeling_ref(version: str) -> str:
    return f"{KUBELING_REPOSITORY}:{version}"


def source_files(root: Path) -> list[Path]:
    """The files a kubeling wheel is built from: everything under ``components/`` and ``pyproject.toml``."""
    files = [root / "pyproject.toml"]
    for path in sorted((root / "components").rglob("*")):
        if not path.is_file() or path.suffix in _SKIPPED_SUFFIXES:
            continue
        relative = path.relative_to(root).parts
        if any(p in _SKIPPED_PARTS or p.endswith(".egg-info") for p in relative):
            continue
        files.append(path)
    return files


def source_hash(root: Path, stamped: str | None = None) -> str:
    """Hash of the checkout's sources (paths and contents), stored in the kubeling image's label;
    ``stamped``: the version the build writes into its copy (a different build of the same sources)."""
    parts: list[bytes] = [f"stamped={stamped}".encode()] if stamped else []
    for path in source_files(root):
        parts += [path.relative_to(root).as_posix().encode(), path.read_bytes()]
    return _digest(parts)


def kubeling_dockerfile(*, base: str, base_id: str, wheel: str, version: str, digest: str) -> str:
    """The thin layer over the base: kubeling's own wheel, installed without dependencies.

    ``base_id`` (the base's image ID) is recorded so a base rebuilt under the same tag makes this stale.
    """
    return (
        f"FROM {base}\n"
        f"COPY {wheel} /tmp/{wheel}\n"
        # --isolated: no pip config or PIP_* variables; everything it needs is the one wheel.
        f"RUN {VENV}/bin/pip install --isolated --no-cache-dir --no-index --no-deps /tmp/{wheel}"
        f" && rm /tmp/{wheel}\n"
        f'LABEL {SOURCE_HASH_LABEL}="{digest}" {BASE_ID_LABEL}="{base_id}" io.kubeling.version="{version}"\n'
        'CMD ["kubeling", "--help"]\n'
    )


def base_import_changes(digest: str) -> list[str]:
    """The image config ``docker import`` gives the base (it has no Dockerfile)."""
    return [
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        f'LABEL {BASE_HASH_LABEL}="{digest}"',
        'CMD ["python3"]',
    ]
