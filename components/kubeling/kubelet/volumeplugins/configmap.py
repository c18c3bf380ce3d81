"""configMap volumes (and projected configMap sources): the object's keys as files.

Without ``items`` every key of ``data`` and ``binaryData`` becomes a file
named after it; with ``items`` only the listed keys, at their ``path`` and
``mode``.  A missing object is an error unless ``optional`` (then the volume
is empty); a listed key the object lacks likewise
(``configmap references non-existent config key: <key>``).
"""

from __future__ import annotations

import base64
import binascii

from kubeling.kubelet.atomicwriter import FileProjection
from kubeling.kubelet.volumeplugins.base import (
    DEFAULT_MODE,
    Obj,
    ObjectReader,
    VolumeError,
    file_mode,
    not_found,
    project_keys,
)


def make_payload(
    items: list[Obj] | None, configmap: Obj, default_mode: int, optional: bool
) -> dict[str, FileProjection]:
    data: dict[str, bytes] = {
        key: str(value).encode() for key, value in (configmap.get("data") or {}).items()
    }
    for key, value in (configmap.get("binaryData") or {}).items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VolumeError(f"configmap key {key!r} holds invalid base64 binaryData") from exc
    return project_keys(data, items, default_mode, optional, "configmap references non-existent config key: ")


async def payload(
    reader: ObjectReader, namespace: str, source: Obj, default_mode: int | None = None
) -> dict[str, FileProjection]:
    """The files of a configMap volume source (``default_mode`` overrides: projected passes its own)."""
    name = source.get("name", "")
    optional = bool(source.get("optional"))
    mode = default_mode if default_mode is not None else file_mode(source.get("defaultMode"), DEFAULT_MODE)
    configmap = await reader.configmap(namespace, name)
    if configmap is None:
        if optional:
            return {}
        raise not_found("configmap", name)
    return make_payload(source.get("items"), configmap, mode, optional)
