"""emptyDir: a directory that lives as long as the pod.

medium "" is a plain directory, mode 0777 (set explicitly, past the umask,
as upstream).  Its ``sizeLimit`` is not enforced here: upstream enforces it
by evicting the pod when usage exceeds it, and this kubelet has no eviction
manager yet.  medium "Memory" is a tmpfs whose size is, as upstream, the
smallest of the node's allocatable memory, the pod's memory limit (when
every container has one) and the volume's sizeLimit (no size option when
none is known: the kernel's default, half of RAM).  HugePages media are
refused.

Setting up an existing volume changes nothing, so a restarted kubelet keeps
the data of running pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING
from pathlib import Path
from typing import Any

from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.kubelet.volumeplugins import hostutil
from kubeling.kubelet.volumeplugins.base import Obj, VolumeError


def _bytes(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(parse_quantity(raw).to_integral_value(rounding=ROUND_CEILING))
    except QuantityError as exc:
        raise VolumeError(f"invalid quantity {raw!r}: {exc}") from exc


def pod_memory_limit(pod: Obj) -> int | None:
    """The pod cgroup's memory limit: the containers' sum (or the largest init container's), else None."""
    spec = pod.get("spec") or {}

    def limits(containers: list[Obj]) -> list[int | None]:
        return [_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory")) for c in containers]

    regular = limits(spec.get("containers") or [])
    init = limits(spec.get("initContainers") or [])
    if not regular or any(limit is None for limit in [*regular, *init]):
        return None
    return max([sum(regular), *init])  # type: ignore[list-item,arg-type]


def memory_size(source: Obj, pod: Obj, allocatable: Mapping[str, Any]) -> int | None:
    candidates = [_bytes(allocatable.get("memory")), pod_memory_limit(pod), _bytes(source.get("sizeLimit"))]
    positive = [size for size in candidates if size]
    return min(positive) if positive else None


async def setup(
    path: Path, source: Obj, fs_group: int | None, *, pod: Obj, allocatable: Mapping[str, Any]
) -> None:
    medium = source.get("medium") or ""
    if medium not in ("", "Memory"):
        raise VolumeError(f"emptyDir medium {medium!r} is not supported on this node")
    fresh = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    if medium == "Memory" and not hostutil.is_mount_point(path):
        await hostutil.mount_tmpfs(path, memory_size(source, pod, allocatable))
        fresh = True
    if fresh:
        path.chmod(0o777)
        if fs_group is not None:
            hostutil.set_volume_ownership(path, fs_group, read_only=False)
