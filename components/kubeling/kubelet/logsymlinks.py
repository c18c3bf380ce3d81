"""Container log symlinks: ``<dir>/<pod>_<namespace>_<container>-<containerID>.log`` → the engine's log.

Upstream's kubelet keeps these in ``/var/log/containers`` so node log
shippers find every container's log by pod, namespace and container name
without asking the API.  Here they follow the runtime listing the kubelet
relists every second: a container the engine has a log file for gets its
link (so within a relist of its start); a link whose target is gone (the
container was removed, and the engine's log file with it) is deleted, as
upstream's container GC removes dangling links.  Only names of that shape are
touched, so other files in the directory are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from kubeling.kubelet import runtime as rt

log = logging.getLogger(__name__)
# <pod>_<namespace>_<container>-<64 hex>.log (names can't hold "_": it separates them unambiguously)
_LINK = re.compile(r"^[^_/]+_[^_/]+_[^_/]+-[0-9a-f]{64}\.log$")


def link_name(pod: str, namespace: str, container: str, container_id: str) -> str:
    return f"{pod}_{namespace}_{container}-{container_id}.log"


class ContainerLogLinks:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._made: dict[str, str] = {}  # link name -> target, as last made

    def wanted(self, containers: Iterable[rt.ContainerStatus]) -> dict[str, str]:
        out = {}
        for c in containers:
            pod, namespace = c.labels.get(rt.POD_NAME, ""), c.labels.get(rt.POD_NAMESPACE, "")
            if c.engine_log_path and pod and namespace and c.name:
                out[link_name(pod, namespace, c.name, c.id)] = c.engine_log_path
        return out

    def sync(self, containers: Iterable[rt.ContainerStatus]) -> None:
        """Make the links the listed containers need; remove dangling ones."""
        wanted = self.wanted(containers)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for name, target in wanted.items():
                if self._made.get(name) == target:
                    continue
                path = self.directory / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                path.symlink_to(target)
                self._made[name] = target
            for entry in os.scandir(self.directory):
                if entry.name in wanted or not _LINK.match(entry.name) or not entry.is_symlink():
                    continue
                if not os.path.exists(entry.path):  # dangling: its container is gone
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                    self._made.pop(entry.name, None)
        except OSError as exc:
            log.warning("container log links in %s: %s", self.directory, exc)
