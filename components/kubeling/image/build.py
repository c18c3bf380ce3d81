"""Build the kubeling images when missing or stale: the API other code calls.

:func:`ensure_kubeling_image` is what tests and the lab call: it returns
``kubeling/kubeling:<version>`` after making sure it exists and was built
from the checkout as it is now (label :data:`~kubeling.image.recipes.SOURCE_HASH_LABEL`).
:func:`build_all` is ``kubeling image build``: the same plus pause and
busybox (``kubeling.kubelet.images``), with a :class:`BuildResult` per image.

Order and caching: the base (``kubeling/base:<hash>``, debootstrap + venv,
minutes) is reused whenever an image of that tag exists; the kubeling layer
(a wheel, seconds) is rebuilt when the source hash label differs; pause and
busybox are content-addressed by their own recipe label.  ``no_cache``
rebuilds the base (and its wheelhouse) and the kubeling layer regardless.

Builds take an exclusive lock on ``<cache>/build.lock``, so concurrent
callers (parallel test sessions) build once and the others find the result.
The docker SDK is synchronous: async callers wrap these in ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

import kubeling
from kubeling.image import recipes, rootfs, sources, stamp, wheelhouse
from kubeling.image.errors import ImageError
from kubeling.kubelet import images as node_images

log = logging.getLogger(__name__)

CACHE_ENV = "KUBELING_CACHE_DIR"


@dataclass(frozen=True)
class BuildResult:
    ref: str
    built: bool  # False: an up-to-date image was already there
    seconds: float
    size: int  # bytes, as `docker images` reports
    image_id: str


def cache_dir() -> Path:
    """``$KUBELING_CACHE_DIR``, else ``$XDG_CACHE_HOME/kubeling``, else ``~/.cache/kubeling``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "kubeling"


def source_root() -> Path:
    """The checkout this kubeling runs from (``components/kubeling`` two levels down)."""
    root = Path(kubeling.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "components").is_dir():
        raise ImageError(
            f"kubeling is not running from a source checkout ({root} has no pyproject.toml):"
            " build images from a checkout, or `kubeling image load` a saved set"
        )
    return root


@contextlib.contextmanager
def build_lock(cache: Path, name: str = "build.lock") -> Iterator[None]:
    """Concurrent builders (other processes, other sessions) take turns; ``name`` separates builds
    that share nothing, so they never wait on each other."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / name, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def docker_client(client: docker.DockerClient | None) -> Iterator[docker.DockerClient]:
    if client is not None:
        yield client
        return
    try:
        own = docker.from_env(timeout=600)
        own.ping()
    except docker.errors.DockerException as exc:
        raise ImageError(f"the Docker Engine is not reachable ({exc}); start dockerd first") from None
    try:
        yield own
    finally:
        own.close()


def _image(client: docker.DockerClient, ref: str) -> docker.models.images.Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _drop_replaced(client: docker.DockerClient, old: docker.models.images.Image | None, ref: str) -> None:
    """Remove the image a rebuild took the tag from, unless something still uses it."""
    new = _image(client, ref)
    if old is None or new is None or old.id == new.id:
        return
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(old.id)


def _result(client: docker.DockerClient, ref: str, built: bool, started: float) -> BuildResult:
    image = client.images.get(ref)
    return BuildResult(ref, built, time.monotonic() - started, int(image.attrs.get("Size") or 0), image.id)


def ensure_base_image(
    client: docker.DockerClient, *, root: Path, cache: Path, no_cache: bool = False
) -> BuildResult:
    """``kubeling/base:<hash>``: reused when present, else debootstrap + venv + import (minutes)."""
    started = time.monotonic()
    dependencies = wheelhouse.project_dependencies(root / "pyproject.toml")
    digest = recipes.base_hash(dependencies)
    ref = recipes.base_ref(digest)
    old = _image(client, ref)
    if old is not None and not no_cache:
        return _result(client, ref, False, started)
    rootfs.ensure_image_tools()
    mirror = sources.find_mirror(recipes.DEBIAN_SUITE)
    wheels = wheelhouse.ensure_wheelhouse(cache, dependencies, refresh=no_cache)
    log.info("building %s: debootstrap %s minbase, then the venv", ref, recipes.DEBIAN_SUITE)
    with rootfs.scratch_dir(cache / "rootfs") as tree:
        rootfs.debootstrap(tree, mirror)
        rootfs.install_venv(tree, wheels)
        rootfs.slim(tree)
        rootfs.import_rootfs(tree, ref, recipes.base_import_changes(digest))
    _drop_replaced(client, old, ref)
    return _result(client, ref, True, started)


def _build_kubeling_layer(
    client: docker.DockerClient,
    *,
    base: BuildResult,
    version: str,
    digest: str,
    root: Path,
    no_cache: bool,
    stamped: str | None,
) -> None:
    ref = recipes.kubeling_ref(version)
    with tempfile.TemporaryDirectory(prefix="kubeling-image-") as tmp:
        context = Path(tmp)
        wheel = wheelhouse.build_kubeling_wheel(root, context, version=stamped)
        dockerfile = recipes.kubeling_dockerfile(
            base=base.ref, base_id=base.image_id, wheel=wheel.name, version=version, digest=digest
        )
        (context / "Dockerfile").write_text(dockerfile)
        try:
            client.images.build(
                path=str(context), tag=ref, rm=True, forcerm=True, nocache=no_cache, network_mode="none"
            )
        except docker.errors.BuildError as exc:
            lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip() for chunk in exc.build_log]
            tail = "\n".join(line for line in lines if line)[-2000:]
            raise ImageError(f"docker build of {ref} failed: {exc.msg}\n{tail}") from None


def _ensure_kubeling(
    client: docker.DockerClient, *, version: str, root: Path, cache: Path, no_cache: bool
) -> list[BuildResult]:
    base = ensure_base_image(client, root=root, cache=cache, no_cache=no_cache)
    started = time.monotonic()
    ref = recipes.kubeling_ref(version)
    # A version other than the checkout's is written into the wheel, so the image reports it.
    stamped = stamp.version_to_stamp(root, version)
    digest = recipes.source_hash(root, stamped)
    old = _image(client, ref)
    labels = (old.labels or {}) if old is not None else {}
    # A base rebuilt under the same tag (by --no-cache) makes the kubeling layer stale, same sources or not.
    current = (
        labels.get(recipes.SOURCE_HASH_LABEL) == digest and labels.get(recipes.BASE_ID_LABEL) == base.image_id
    )
    if current and not no_cache:
        return [base, _result(client, ref, False, started)]
    log.info("building %s on %s", ref, base.ref)
    _build_kubeling_layer(
        client, base=base, version=version, digest=digest, root=root, no_cache=no_cache, stamped=stamped
    )
    _drop_replaced(client, old, ref)
    _prune_leftovers(client, keep=base.ref)
    return [base, _result(client, ref, True, started)]


def _prune_leftovers(client: docker.DockerClient, *, keep: str) -> None:
    """Remove bases of older recipes and replaced kubeling images that were in use when replaced.

    The engine refuses (and we keep) whatever a container runs or another image builds on.
    """
    stale = [tag for image in client.images.list(name=recipes.BASE_REPOSITORY) for tag in image.tags]
    untagged = client.images.list(filters={"dangling": True, "label": recipes.SOURCE_HASH_LABEL})
    for name in [tag for tag in stale if tag != keep] + [image.id for image in untagged]:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(name)


def ensure_kubeling_image(
    version: str | None = None,
    *,
    no_cache: bool = False,
    client: docker.DockerClient | None = None,
    root: Path | None = None,
) -> str:
    """``kubeling/kubeling:<version>``, built now if missing or older than the checkout; returns the ref.

    ``root`` is the checkout to build from (default: the one kubeling runs from).
    """
    version = recipes.resolve_version(version)
    root, cache = root or source_root(), cache_dir()
    with docker_client(client) as engine, build_lock(cache):
        _ensure_kubeling(engine, version=version, root=root, cache=cache, no_cache=no_cache)
    return recipes.kubeling_ref(version)


def node_image_refs(version: str) -> list[str]:
    """pause and busybox under ``version`` (they are built under the package's version, then tagged)."""
    sources = (node_images.PAUSE_IMAGE, node_images.BUSYBOX_IMAGE)
    return [ref.rsplit(":", 1)[0] + f":{version}" for ref in sources]


def _ensure_node_images(client: docker.DockerClient, version: str) -> list[BuildResult]:
    started = time.monotonic()
    built = set(node_images.ensure_images(client))
    results = []
    for source, ref in zip(
        (node_images.PAUSE_IMAGE, node_images.BUSYBOX_IMAGE), node_image_refs(version), strict=True
    ):
        if ref != source:
            repository, tag = ref.rsplit(":", 1)
            client.images.get(source).tag(repository, tag)
        results.append(_result(client, ref, source in built, started))
    return results


def build_all(
    version: str | None = None,
    *,
    no_cache: bool = False,
    client: docker.DockerClient | None = None,
    root: Path | None = None,
) -> list[BuildResult]:
    """``kubeling image build``: base, kubeling, pause and busybox, each only when missing or stale."""
    version = recipes.resolve_version(version)
    root, cache = root or source_root(), cache_dir()
    with docker_client(client) as engine, build_lock(cache):
        results = _ensure_kubeling(engine, version=version, root=root, cache=cache, no_cache=no_cache)
        results += _ensure_node_images(engine, version)
    return results


def all_image_refs(version: str) -> list[str]:
    """The images a node needs, in the order they are saved and shipped."""
    return [recipes.kubeling_ref(version), *node_image_refs(version)]
