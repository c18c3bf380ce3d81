"""What every volume plugin shares: errors, directory names, and reading referenced objects.

Errors: a plugin raises :class:`VolumeError` with upstream's bare message
(``configmap "y" not found``); the manager wraps it into :class:`MountError`
with the volume's name, the message the kubelet puts into its FailedMount
event (``MountVolume.SetUp failed for volume "x" : configmap "y" not found``).
"""

from __future__ import annotations

from typing import Any, Protocol

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.client.rest import RESTClient
from kubeling.kubelet.atomicwriter import FileProjection

Obj = dict[str, Any]

_REGISTRY = Registry()
CONFIGMAPS = _REGISTRY.get("", "v1", "configmaps")
SECRETS = _REGISTRY.get("", "v1", "secrets")
SERVICEACCOUNTS = _REGISTRY.get("", "v1", "serviceaccounts")
PVCS = _REGISTRY.get("", "v1", "persistentvolumeclaims")
PVS = _REGISTRY.get("", "v1", "persistentvolumes")

# Upstream's plugin directory names under pods/<uid>/volumes/.
EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIGMAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
DOWNWARD_API = "kubernetes.io~downward-api"
PROJECTED = "kubernetes.io~projected"

DEFAULT_MODE = 0o644  # configMap, secret, downwardAPI and projected defaultMode


class VolumeError(Exception):
    """A plugin could not set a volume up; the message is upstream's, without the volume prefix."""


class MountError(Exception):
    """Volumes of a pod could not be set up (or a mount resolved); ``reason`` is the Event's reason.

    ``failures`` holds one message per failing volume (one FailedMount event each, as upstream).
    """

    def __init__(self, message: str, *, reason: str = "FailedMount", failures: list[str] | None = None):
        super().__init__(message)
        self.reason = reason
        self.failures = failures or [message]

    @classmethod
    def setup_failed(cls, volume: str, error: Exception) -> MountError:
        return cls(f'MountVolume.SetUp failed for volume "{volume}" : {error}')


class Cache(Protocol):
    def lookup(self, ref: tuple[str, str, str]) -> tuple[bool, Obj | None]: ...


class ObjectReader:
    """The objects volumes reference: from a watch cache when it knows them, else a GET.

    A missing object is None, any other failure a VolumeError.
    """

    def __init__(self, client: RESTClient, cache: Cache | None = None) -> None:
        self.client = client
        self.cache = cache

    async def configmap(self, namespace: str, name: str) -> Obj | None:
        if self.cache is not None:
            known, obj = self.cache.lookup(("configmaps", namespace, name))
            if known:
                return obj
        return await self._get(CONFIGMAPS, "configmap", namespace, name)

    async def secret(self, namespace: str, name: str) -> Obj | None:
        if self.cache is not None:
            known, obj = self.cache.lookup(("secrets", namespace, name))
            if known:
                return obj
        return await self._get(SECRETS, "secret", namespace, name)

    async def pvc(self, namespace: str, name: str) -> Obj | None:
        return await self._get(PVCS, "persistentvolumeclaim", namespace, name)

    async def pv(self, name: str) -> Obj | None:
        return await self._get(PVS, "persistentvolume", None, name)

    async def _get(self, resource: Any, kind: str, namespace: str | None, name: str) -> Obj | None:
        try:
            return await self.client.get(resource, namespace=namespace, name=name)
        except errors.StatusError as exc:
            if exc.code == 404:
                return None
            raise VolumeError(f'failed to get {kind} "{name}": {exc}') from exc


def not_found(kind: str, name: str) -> VolumeError:
    """Upstream's singular-kind NotFound text, as the kubelet's object managers produce it."""
    return VolumeError(f'{kind} "{name}" not found')


def file_mode(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def project_keys(
    data: dict[str, bytes], items: list[Any] | None, default_mode: int, optional: bool, missing: str
) -> dict[str, FileProjection]:
    """The files a configMap or secret source makes: every key, or just ``items`` (key → path, mode).

    A listed key the object lacks fails the volume (``missing`` + the key) unless it is optional.
    """
    if not items:
        return {key: FileProjection(value, default_mode) for key, value in data.items()}
    payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"{missing}{key}")
        payload[item.get("path") or key] = FileProjection(
            data[key], file_mode(item.get("mode"), default_mode)
        )
    return payload
