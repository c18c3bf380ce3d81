"""emptyDir: a directory that lives as long as the pod.

medium "" is a plain directory, mode 0777 (set explicitly, past the umask,
as upstream).  Its ``sizeLimit`` is not enforced here: upstream enforces it
by evicting the pod when usage exceeds it, and this kubelet has no eviction
manager yet.  medium "Memory" is a tmpfs mounted with ``size=<sizeLimit>``
(no size option without a limit: the kernel's default, half of RAM).
HugePages media are refused.

Setting up an existing volume changes nothing, so a restarted kubelet keeps
the data of running pods.
"""

from __future__ import annotations

from decimal import ROUND_CEILING
from pathlib import Path

from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.kubelet.volumeplugins import hostutil
from kubeling.kubelet.volumeplugins.base import Obj, VolumeError


def size_limit(source: Obj) -> int | None:
    raw = source.get("sizeLimit")
    if raw in (None, ""):
        return None
    try:
        return int(parse_quantity(raw).to_integral_value(rounding=ROUND_CEILING))
    except QuantityError as exc:
        raise VolumeError(f"invalid sizeLimit {raw!r}: {exc}") from exc


async def setup(path: Path, source: Obj, fs_group: int | None) -> None:
    medium = source.get("medium") or ""
    if medium not in ("", "Memory"):
        raise VolumeError(f"emptyDir medium {medium!r} is not supported on this node")
    fresh = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    if medium == "Memory" and not hostutil.is_mount_point(path):
        await hostutil.mount_tmpfs(path, size_limit(source))
        fresh = True
    if fresh:
        path.chmod(0o777)
        if fs_group is not None:
            hostutil.set_volume_ownership(path, fs_group, read_only=False)
