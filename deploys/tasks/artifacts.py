"""What the deploying machine makes before any host is touched: the PKI and the shipped images.

Both are made while pyinfra prepares the run (file uploads hash their sources
then), once per run, and both are idempotent: ``kubeling pki init`` keeps every
valid file byte for byte; images are saved again only when an image ID differs
from the last save's, so an unchanged checkout ships byte-identical tarballs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

from deploys.cluster import ROOT, Cluster

STAMP = "ship.json"
# pyinfra prepares hosts in parallel greenlets: the first makes the artifacts, the others wait
# here (a cooperative lock under gevent) and then find them in the cache.
_making = threading.Lock()


class ArtifactError(RuntimeError):
    pass


def pki_dir(cluster: Cluster) -> Path:
    return ROOT / "certs" / cluster.name


def ensure_pki(cluster: Cluster) -> Path:
    """``certs/<cluster>/`` made or brought up to date for the inventory's hosts."""
    with _making:
        return _ensure_pki(cluster)


@functools.cache
def _ensure_pki(cluster: Cluster) -> Path:
    from kubeling.pki.commands import InitOptions, PkiError, init

    directory = pki_dir(cluster)
    out = io.StringIO()
    try:
        init(InitOptions(directory=directory, inventory=cluster.pki_inventory()), out=out)
    except PkiError as exc:
        raise ArtifactError(f"PKI in {directory}: {exc}") from None
    return directory


def kubeconfig_for(cluster: Cluster, source: Path, server: str) -> bytes:
    """A kubeconfig of the PKI pointed at ``server`` (each host reaches the API its own way)."""
    from kubeling.pki import kubeconfig

    creds = kubeconfig.parse(source.read_bytes())
    return kubeconfig.render(dataclasses.replace(creds, server=server))


@dataclass(frozen=True)
class Shipment:
    directory: Path
    images: dict[str, str]  # ref -> image ID
    tarballs: dict[str, Path]  # ref -> tarball
    wheelhouse_tar: Path
    wheelhouse_stamp: str


def ship_dir(version: str) -> Path:
    from kubeling.image.build import cache_dir

    return cache_dir() / "ship" / version


def ensure_shipment(version: str, root: Path | None = None) -> Shipment:
    """Images built (when missing or stale) and saved with a wheelhouse under ``ship_dir(version)``;
    ``root``: the kubeling tree to build (default: the checkout running the deploy; upgrades may
    name another)."""
    with _making:
        return _ensure_shipment(version, root)


@functools.cache
def _ensure_shipment(version: str, root: Path | None) -> Shipment:
    import docker

    from kubeling.image import build, ship
    from kubeling.image.errors import ImageError

    directory = ship_dir(version)
    try:
        build.build_all(version, root=root)
        refs = build.all_image_refs(version)
        with build.docker_client(None) as engine:
            ids = {ref: engine.images.get(ref).id for ref in refs}
        tarballs = {ref: directory / ship.tarball_name(ref) for ref in refs}
        stamp_file = directory / STAMP
        saved = json.loads(stamp_file.read_text()) if stamp_file.exists() else {}
        wheel_tar = directory / "wheelhouse.tar"
        if saved != ids or not wheel_tar.exists() or not all(p.exists() for p in tarballs.values()):
            ship.save(directory, version, root=root)
            _tar_wheelhouse(directory / "wheelhouse", wheel_tar)
            stamp_file.write_text(json.dumps(ids, indent=2, sort_keys=True) + "\n")
    except (ImageError, docker.errors.DockerException) as exc:
        raise ArtifactError(f"images for kubeling {version}: {exc}") from None
    return Shipment(directory, ids, tarballs, wheel_tar, _digest(wheel_tar))


def _tar_wheelhouse(source: Path, target: Path) -> None:
    """A tarball of the wheels with fixed metadata, so the same wheels give the same bytes."""
    partial = target.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for wheel in sorted(source.iterdir()):
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with wheel.open("rb") as f:
                tar.addfile(info, f)
    partial.rename(target)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
