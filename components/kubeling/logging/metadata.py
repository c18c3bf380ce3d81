"""Pod metadata for log lines, from an informer on the node's pods, kept after a pod is deleted.

A container's last lines are often read after its pod is gone from the API
(the collector ships them a moment later, or after a restart), so deleted
pods stay here for ``retention`` seconds; a pod of the same name created
again replaces them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class PodInfo:
    uid: str
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    node: str = ""


class PodMetadata:
    def __init__(self, *, retention: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.retention = retention
        self.clock = clock
        self._pods: dict[tuple[str, str], PodInfo] = {}
        self._deleted_at: dict[tuple[str, str], float] = {}

    @staticmethod
    def _key(pod: Obj) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return meta.get("namespace", ""), meta.get("name", "")

    def upsert(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = self._key(pod)
        node = (pod.get("spec") or {}).get("nodeName", "")
        self._pods[key] = PodInfo(meta.get("uid", ""), dict(meta.get("labels") or {}), node)
        self._deleted_at.pop(key, None)

    def delete(self, pod: Obj) -> None:
        """Remember the pod as it was last seen; forgotten after ``retention``."""
        key = self._key(pod)
        if key not in self._pods:
            self.upsert(pod)
        self._deleted_at[key] = self.clock()

    def on_update(self, old: Obj, new: Obj) -> None:
        self.upsert(new)

    def lookup(self, namespace: str, name: str) -> PodInfo | None:
        return self._pods.get((namespace, name))

    def prune(self) -> None:
        cutoff = self.clock() - self.retention
        for key, when in list(self._deleted_at.items()):
            if when < cutoff:
                del self._deleted_at[key]
                self._pods.pop(key, None)
