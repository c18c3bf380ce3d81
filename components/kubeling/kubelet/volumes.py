"""The kubelet's volume manager: pod volumes on the node, and the mounts containers get.

Layout (upstream's)::

    <root_dir>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>
    <root_dir>/pods/<uid>/volumes/kubernetes.io~configmap/<volume>
    <root_dir>/pods/<uid>/volumes/kubernetes.io~secret/<volume>        tmpfs
    <root_dir>/pods/<uid>/volumes/kubernetes.io~downward-api/<volume>
    <root_dir>/pods/<uid>/volumes/kubernetes.io~projected/<volume>     tmpfs

hostPath volumes and hostPath/local PersistentVolumes are used in place.
Secret and projected volumes live on tmpfs (``memory_backed_secrets``) so
secrets never reach the disk, as upstream.

The kubelet core calls, per pod sync:

- :meth:`VolumeManager.setup` — sets up volumes not set up yet (a volume
  already set up costs nothing: no API call, no file write); raises
  :class:`MountError` (reason FailedMount, one message per failing volume);
- :meth:`VolumeManager.mounts_for` — the container's volumeMounts as
  :class:`runtime.Mount` (readOnly, subPath, subPathExpr);
- :meth:`VolumeManager.refresh` — re-reads configMap/secret/downwardAPI/
  projected contents and swaps changed ones in atomically; renews projected
  tokens when due.  subPath mounts of such volumes bind the file of the
  moment and do not follow updates, as upstream;
- :meth:`VolumeManager.teardown` — unmounts whatever is mounted under the
  pod's directory, then removes its volume directories without following
  symlinks.  hostPath and PV paths are never touched.

ConfigMaps and Secrets come from :class:`~volumeplugins.objectcache.ObjectCache`:
one watch per referenced object while a pod uses it, so refresh reads memory
(``on_object_change`` tells the core which pods to resync early).  Tokens
come from :class:`~volumeplugins.tokens.TokenManager`.  :meth:`close` stops the watches.

Setup is idempotent against what is on disk, so a restarted kubelet keeps
emptyDir data and tmpfs mounts of running pods.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeling.client.rest import RESTClient
from kubeling.kubelet import runtime
from kubeling.kubelet.atomicwriter import AtomicWriter, FileProjection, PayloadError
from kubeling.kubelet.volumeplugins import (
    configmap,
    downwardapi,
    emptydir,
    hostpath,
    hostutil,
    persistentvolumeclaim,
    projected,
    secret,
)
from kubeling.kubelet.volumeplugins.base import (
    CONFIGMAP,
    DOWNWARD_API,
    EMPTY_DIR,
    PROJECTED,
    SECRET,
    MountError,
    Obj,
    ObjectReader,
    VolumeError,
)
from kubeling.kubelet.volumeplugins.objectcache import ObjectCache, pod_refs
from kubeling.kubelet.volumeplugins.tokens import TokenManager

__all__ = ["MountError", "MountedVolume", "VolumeManager"]

log = logging.getLogger(__name__)

# Sources written by the AtomicWriter, with their plugin directory; containers mount them read-only.
_PROJECTED_KINDS = {
    "configMap": CONFIGMAP,
    "secret": SECRET,
    "downwardAPI": DOWNWARD_API,
    "projected": PROJECTED,
}
_MEMORY_KINDS = {"secret", "projected"}


@dataclass
class MountedVolume:
    name: str
    kind: str  # the source field: emptyDir, hostPath, configMap, ...
    path: Path
    read_only: bool  # every mount of it is read-only (upstream's mustMountRO)
    source: Obj


def volume_kind(volume: Obj) -> str:
    kinds = [key for key in volume if key != "name"]
    return kinds[0] if len(kinds) == 1 else ""


class VolumeManager:
    def __init__(
        self,
        client: RESTClient,
        root_dir: Path,
        node_name: str,
        *,
        node_allocatable: Callable[[], Mapping[str, Any]] | None = None,
        memory_backed_secrets: bool = True,
        watch_objects: bool = True,
        on_object_change: Callable[[list[str]], Any] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.root_dir = Path(root_dir)
        self.node_name = node_name
        self.cache = ObjectCache(client, on_change=on_object_change) if watch_objects else None
        self.reader = ObjectReader(client, self.cache)
        self.tokens = TokenManager(client, now=now)
        self.node_allocatable = node_allocatable or dict
        self.memory_backed_secrets = memory_backed_secrets
        self._pods: dict[str, dict[str, MountedVolume]] = {}

    # -- paths ---------------------------------------------------------------------

    def pod_dir(self, pod_uid: str) -> Path:
        return self.root_dir / "pods" / pod_uid

    def volume_dir(self, pod_uid: str, plugin_dir: str, name: str) -> Path:
        return self.pod_dir(pod_uid) / "volumes" / plugin_dir / name

    def mounted(self, pod_uid: str) -> dict[str, MountedVolume]:
        """The volumes set up for a pod so far, by name."""
        return dict(self._pods.get(pod_uid, {}))

    def pod_uids_on_disk(self) -> list[str]:
        """Pods with a directory here (the core tears down those it no longer runs)."""
        pods = self.root_dir / "pods"
        return sorted(entry.name for entry in pods.iterdir() if entry.is_dir()) if pods.is_dir() else []

    # -- setup ---------------------------------------------------------------------

    async def setup(self, pod: Obj) -> None:
        """Set up every volume of the pod not set up yet; MountError lists the ones that failed."""
        uid = pod["metadata"]["uid"]
        if self.cache is not None and uid not in self._pods:
            self.cache.register(uid, pod_refs(pod))
        mounted = self._pods.setdefault(uid, {})
        failures = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume.get("name", "")
            if name in mounted:
                continue
            try:
                mounted[name] = await self._setup_volume(pod, volume)
            except (VolumeError, PayloadError, OSError) as exc:
                failures.append(str(MountError.setup_failed(name, exc)))
        if failures:
            raise MountError(failures[0], failures=failures)

    async def _setup_volume(self, pod: Obj, volume: Obj) -> MountedVolume:
        name, kind = volume.get("name", ""), volume_kind(volume)
        source = volume.get(kind) or {}
        uid = pod["metadata"]["uid"]
        if kind == "emptyDir":
            path = self.volume_dir(uid, EMPTY_DIR, name)
            await emptydir.setup(path, source, _fs_group(pod), pod=pod, allocatable=self.node_allocatable())
            return MountedVolume(name, kind, path, False, source)
        if kind == "hostPath":
            return MountedVolume(name, kind, hostpath.setup(source), False, source)
        if kind == "persistentVolumeClaim":
            path = await persistentvolumeclaim.resolve(self.reader, pod["metadata"]["namespace"], source)
            return MountedVolume(name, kind, path, bool(source.get("readOnly")), source)
        if kind == "ephemeral":
            claim = {"claimName": persistentvolumeclaim.ephemeral_claim_name(pod, name)}
            path = await persistentvolumeclaim.resolve(
                self.reader, pod["metadata"]["namespace"], claim, owner=pod
            )
            return MountedVolume(name, kind, path, False, source)
        if kind in _PROJECTED_KINDS:
            path = self.volume_dir(uid, _PROJECTED_KINDS[kind], name)
            payload = await self._payload(pod, kind, source)
            await self._ensure_dir(path, memory=kind in _MEMORY_KINDS and self.memory_backed_secrets)
            self._write(path, payload, _fs_group(pod))
            return MountedVolume(name, kind, path, True, source)
        raise VolumeError(f"unsupported volume type: {kind or 'no volume source'}")

    async def _payload(self, pod: Obj, kind: str, source: Obj) -> dict[str, FileProjection]:
        namespace = pod["metadata"]["namespace"]
        if kind == "configMap":
            return await configmap.payload(self.reader, namespace, source)
        if kind == "secret":
            return await secret.payload(self.reader, namespace, source)
        if kind == "downwardAPI":
            return downwardapi.payload(pod, source, self.node_allocatable())
        return await projected.payload(self.reader, self.tokens, pod, source, self.node_allocatable())

    async def _ensure_dir(self, path: Path, *, memory: bool) -> None:
        if memory:
            path.mkdir(parents=True, exist_ok=True)
            if not hostutil.is_mount_point(path):
                await hostutil.mount_tmpfs(path)
        elif not path.is_dir():
            path.mkdir(parents=True)
        else:
            return
        path.chmod(0o777)  # these are wrapped emptyDirs upstream

    @staticmethod
    def _write(path: Path, payload: Mapping[str, FileProjection], fs_group: int | None) -> bool:
        def set_perms(ts_dir: Path) -> None:
            if fs_group is not None:
                hostutil.set_volume_ownership(ts_dir, fs_group, read_only=True)
                os.lchown(path, -1, fs_group)

        return AtomicWriter(path).write(payload, set_perms)

    # -- refresh -------------------------------------------------------------------

    async def refresh(self, pod: Obj) -> bool:
        """Re-sync configMap/secret/downwardAPI/projected volumes; True when any file changed.

        A failing volume keeps its last contents; MountError lists the failures.
        """
        uid = pod["metadata"]["uid"]
        changed = False
        failures = []
        for volume in self._pods.get(uid, {}).values():
            if volume.kind not in _PROJECTED_KINDS:
                continue
            try:
                payload = await self._payload(pod, volume.kind, volume.source)
                changed |= self._write(volume.path, payload, _fs_group(pod))
            except (VolumeError, PayloadError, OSError) as exc:
                failures.append(str(MountError.setup_failed(volume.name, exc)))
        if failures:
            raise MountError(failures[0], failures=failures)
        return changed

    # -- mounts --------------------------------------------------------------------

    def mounts_for(
        self, pod: Obj, container: Obj, env: Mapping[str, str] | None = None
    ) -> list[runtime.Mount]:
        """The container's volumeMounts on the host; ``env`` expands subPathExpr (default: plain values)."""
        uid = pod["metadata"]["uid"]
        mounted = self._pods.get(uid, {})
        cname = container.get("name", "")
        if env is None:
            env = {e["name"]: e.get("value", "") for e in container.get("env") or [] if "valueFrom" not in e}
        mounts = []
        for mount in container.get("volumeMounts") or []:
            name = mount.get("name", "")
            volume = mounted.get(name)
            if volume is None:
                raise MountError(
                    f'cannot find volume "{name}" to mount into container "{cname}"',
                    reason="CreateContainerConfigError",
                )
            host_path = volume.path
            sub_path = mount.get("subPath") or ""
            if mount.get("subPathExpr"):
                sub_path = expand(mount["subPathExpr"], env)
            if sub_path:
                host_path = _prepare_subpath(volume.path, sub_path, name, cname)
            mounts.append(
                runtime.Mount(
                    host_path=str(host_path),
                    container_path=mount.get("mountPath", ""),
                    read_only=bool(mount.get("readOnly")) or volume.read_only,
                    sub_path=sub_path,
                )
            )
        return mounts

    # -- teardown ------------------------------------------------------------------

    async def teardown(self, pod_uid: str) -> None:
        """Unmount and remove the pod's volume directories; hostPath and PV paths stay untouched."""
        pod_dir = self.pod_dir(pod_uid)
        for point in hostutil.mounts_under(pod_dir):
            await hostutil.unmount(point)
        left = hostutil.mounts_under(pod_dir)
        if left:  # never delete through a mount: its contents are not the pod's to lose
            raise OSError(f"mounts remain under {pod_dir}: {', '.join(left)}")
        for name in ("volumes", "volume-subpaths"):
            _remove_tree(pod_dir / name)
        self._pods.pop(pod_uid, None)
        self.tokens.forget(pod_uid)
        if self.cache is not None:
            await self.cache.unregister(pod_uid)

    async def close(self) -> None:
        """Stop the object watches (pod volumes stay as they are on disk)."""
        if self.cache is not None:
            await self.cache.close()


def _fs_group(pod: Obj) -> int | None:
    group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return group if isinstance(group, int) and not isinstance(group, bool) else None


def _remove_tree(path: Path) -> None:
    if path.is_symlink():
        path.unlink()  # a link where a directory should be: remove the link, never its target
    elif path.exists():
        shutil.rmtree(path)  # rmtree never follows symlinks inside the tree


_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` expansion as upstream: ``$$`` escapes, unknown references stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, text)


def _prepare_subpath(volume_path: Path, sub_path: str, volume: str, container: str) -> Path:
    """``volume_path/sub_path``, made (as a directory, with the volume root's mode) when missing.

    Refused when it is absolute, climbs with '..' or resolves outside the volume through a symlink.
    """
    failure = MountError(
        f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"',
        reason="CreateContainerConfigError",
    )
    if sub_path.startswith("/") or ".." in sub_path.split("/"):
        raise failure
    base = os.path.realpath(volume_path)
    target = volume_path / sub_path
    if not os.path.lexists(target):
        mode = os.stat(volume_path).st_mode & 0o7777
        current = volume_path
        for part in Path(sub_path).parts:
            current = current / part
            if not os.path.lexists(current):
                current.mkdir(mode=mode)
                current.chmod(mode)  # past the umask
            elif not os.path.realpath(current).startswith(base + os.sep):
                raise failure
    real = os.path.realpath(target)
    if real != base and not real.startswith(base + os.sep):
        raise failure
    return Path(real)
