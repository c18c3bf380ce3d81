"""secret volumes (and projected secret sources): the Secret's keys as files, base64-decoded.

The same shape as :mod:`configmap` (items, modes, optional), with
upstream's texts: ``secret "y" not found`` and
``references non-existent secret key: <key>``.  ``secretName`` names the
object in a volume, ``name`` in a projected source.
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


def decoded(secret: Obj) -> dict[str, bytes]:
    data = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VolumeError(f"secret key {key!r} holds invalid base64 data") from exc
    return data


def make_payload(
    items: list[Obj] | None, secret: Obj, default_mode: int, optional: bool
) -> dict[str, FileProjection]:
    return project_keys(
        decoded(secret), items, default_mode, optional, "references non-existent secret key: "
    )


async def payload(
    reader: ObjectReader, namespace: str, source: Obj, default_mode: int | None = None
) -> dict[str, FileProjection]:
    name = source.get("secretName") or source.get("name") or ""
    optional = bool(source.get("optional"))
    mode = default_mode if default_mode is not None else file_mode(source.get("defaultMode"), DEFAULT_MODE)
    secret = await reader.secret(namespace, name)
    if secret is None:
        if optional:
            return {}
        raise not_found("secret", name)
    return make_payload(source.get("items"), secret, mode, optional)
