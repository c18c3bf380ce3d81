"""Ship images without a registry: ``docker save`` tarballs plus a wheelhouse, and ``docker load`` back.

``save`` writes ``<dir>/<name>-<version>.tar`` for each image a node needs
(kubeling, pause, busybox; the base travels inside the kubeling tarball as
its lower layer) and ``<dir>/wheelhouse/`` with kubeling's wheel and every
dependency's, for hosts that install kubeling without an index (issue 7).
``load`` loads every ``*.tar`` of a directory into the local engine.
Tarballs are streamed to and from disk in chunks, never held in memory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from kubeling.image import build, recipes, stamp, wheelhouse
from kubeling.image.errors import ImageError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Shipped:
    ref: str
    path: Path
    size: int


def tarball_name(ref: str) -> str:
    """``kubeling/pause:0.1.0`` → ``pause-0.1.0.tar``."""
    repository, tag = ref.rsplit(":", 1)
    return f"{repository.rsplit('/', 1)[-1]}-{tag}.tar"


def save_images(client: docker.DockerClient, refs: list[str], out_dir: Path) -> list[Shipped]:
    """``docker save`` each ref to ``out_dir/<name>-<tag>.tar`` (written under a temporary name first)."""
    missing = [ref for ref in refs if not _exists(client, ref)]
    if missing:
        raise ImageError(f"not built yet: {', '.join(missing)}; run `kubeling image build` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    shipped = []
    for ref in refs:
        path = out_dir / tarball_name(ref)
        partial = path.with_suffix(".tar.partial")
        with open(partial, "wb") as f:
            # named=ref: this tag (True saves the first tag, e.g. pause:0.1.0 when asked for pause:0.2.0).
            for chunk in client.images.get(ref).save(chunk_size=_CHUNK, named=ref):
                f.write(chunk)
        partial.rename(path)
        shipped.append(Shipped(ref, path, path.stat().st_size))
    return shipped


def save_wheelhouse(out_dir: Path, *, root: Path, cache: Path, version: str | None = None) -> Path:
    """``out_dir/wheelhouse``: kubeling's wheel from the checkout (stamped with ``version`` when that
    differs from the checkout's, as the image is) and every dependency's."""
    target = out_dir / "wheelhouse"
    dependencies = wheelhouse.project_dependencies(root / "pyproject.toml")
    wheels = wheelhouse.ensure_wheelhouse(cache, dependencies)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(wheels, target, ignore=shutil.ignore_patterns(".complete"))
    stamped = stamp.version_to_stamp(root, version) if version else None
    wheelhouse.build_kubeling_wheel(root, target, version=stamped)
    return target


def save(
    out_dir: Path,
    version: str | None = None,
    *,
    client: docker.DockerClient | None = None,
    root: Path | None = None,
) -> list[Shipped]:
    """``kubeling image save``: every node image of ``version`` and the wheelhouse into ``out_dir``
    (``root``: the checkout the images were built from; default the one kubeling runs from)."""
    version = recipes.resolve_version(version)
    with build.docker_client(client) as engine:
        shipped = save_images(engine, build.all_image_refs(version), out_dir)
    root, cache = root or build.source_root(), build.cache_dir()
    with build.build_lock(cache):
        target = save_wheelhouse(out_dir, root=root, cache=cache, version=version)
    size = sum(p.stat().st_size for p in target.iterdir())
    return [*shipped, Shipped("wheelhouse", target, size)]


def load(in_dir: Path, *, client: docker.DockerClient | None = None) -> list[str]:
    """``kubeling image load``: ``docker load`` every ``*.tar`` in ``in_dir``; returns the refs loaded."""
    if not in_dir.is_dir():
        raise ImageError(f"{in_dir} is not a directory")
    tarballs = sorted(in_dir.glob("*.tar"))
    if not tarballs:
        raise ImageError(f"no image tarballs (*.tar) in {in_dir}")
    loaded = []
    with build.docker_client(client) as engine:
        for tarball in tarballs:
            with open(tarball, "rb") as f:
                try:
                    messages = list(engine.api.load_image(f))
                except docker.errors.APIError as exc:
                    raise ImageError(f"docker load {tarball} failed: {exc.explanation or exc}") from None
            for message in messages:
                if message.get("error"):
                    raise ImageError(f"docker load {tarball} failed: {message['error']}")
                stream = str(message.get("stream") or "")
                if stream.startswith("Loaded image:"):
                    loaded.append(stream.split(":", 1)[1].strip())
    return loaded


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True
