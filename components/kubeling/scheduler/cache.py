"""The scheduler's cache: a NodeInfo per node, holding bound and *assumed* pods.

After the scheduler decides, it *assumes* the pod: the pod is added to its
node's NodeInfo at once, so the next cycle already sees the resources taken,
while the binding is written in the background.  Then either

- the informer reports the pod bound (``add_pod`` of an assumed pod): the
  assumption is *confirmed* and the informer's copy replaces it;
- the binding fails: ``forget_pod`` takes the pod off the node again.

Pods can be reported on nodes the cache does not know yet; they wait in a
NodeInfo without a Node, which is not offered for scheduling.  Nodes are kept
in insertion order so the scheduler can walk them round-robin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubeling.scheduler.framework import NODE_FLAGS, NodeInfo, PodInfo, node_flags

Obj = dict[str, Any]


class Cache:
    def __init__(
        self,
        *,
        namespace_labels: Callable[[str], dict[str, str]] | None = None,
        priority_of: Callable[[Obj], int] | None = None,
    ) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._schedulable: list[NodeInfo] = []  # nodes with a Node object, in insertion order
        self._pod_nodes: dict[str, str] = {}  # pod key -> node it is on
        self._assumed: set[str] = set()
        self._namespace_labels = namespace_labels or (lambda _ns: {})
        self._priority_of = priority_of
        self._flags: dict[str, tuple[bool, ...]] = {}  # node -> its node_flags()
        self._counts = dict.fromkeys(NODE_FLAGS, 0)

    # -- ClusterView -------------------------------------------------------------

    def node_infos(self) -> list[NodeInfo]:
        return self._schedulable

    def get(self, name: str) -> NodeInfo | None:
        info = self._nodes.get(name)
        return info if info is not None and info.node is not None else None

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return self._namespace_labels(namespace)

    def count(self, flag: str) -> int:
        return self._counts[flag]

    def _refresh(self, info: NodeInfo) -> None:
        """Keep the per-flag node counts right after ``info`` changed."""
        old = self._flags.get(info.name)
        new = node_flags(info) if info.name in self._nodes else None
        if old == new:
            return
        for i, flag in enumerate(NODE_FLAGS):
            self._counts[flag] += (new[i] if new else 0) - (old[i] if old else 0)
        if new is None:
            del self._flags[info.name]
        else:
            self._flags[info.name] = new

    def __len__(self) -> int:
        return len(self._schedulable)

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self._schedulable)

    # -- nodes -------------------------------------------------------------------

    def add_node(self, node: Obj) -> NodeInfo:
        name = node["metadata"]["name"]
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(node)
            self._schedulable.append(info)
        else:
            if info.node is None:
                self._schedulable.append(info)
            info.set_node(node)
        self._refresh(info)
        return info

    update_node = add_node

    def remove_node(self, name: str) -> None:
        info = self._nodes.get(name)
        if info is None:
            return
        if info.node is not None:
            self._schedulable.remove(info)
        if info.pods:
            info.node = None  # keep the pods' accounting until they are deleted
        else:
            del self._nodes[name]
        self._refresh(info)

    # -- pods --------------------------------------------------------------------

    def _node_for(self, name: str) -> NodeInfo:
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name=name)
        return info

    def assume_pod(self, info: PodInfo, node_name: str) -> None:
        """Count the pod on ``node_name`` before its binding is written."""
        if info.key in self._pod_nodes:
            raise ValueError(f"pod {info.key} is already in the cache")
        node = self._node_for(node_name)
        node.add_pod(info)
        self._pod_nodes[info.key] = node_name
        self._assumed.add(info.key)
        self._refresh(node)

    def forget_pod(self, key: str) -> None:
        """Undo an assumption (the binding failed)."""
        if key not in self._assumed:
            return
        self._assumed.discard(key)
        self._remove(key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def add_pod(self, pod: Obj) -> None:
        """A bound pod reported by the informer; confirms an assumed one."""
        info = PodInfo(pod, self._priority_of(pod) if self._priority_of else None)
        node_name = pod["spec"]["nodeName"]
        self._assumed.discard(info.key)
        if info.key in self._pod_nodes:
            self._remove(info.key)
        node = self._node_for(node_name)
        node.add_pod(info)
        self._pod_nodes[info.key] = node_name
        self._refresh(node)

    update_pod = add_pod

    def remove_pod(self, key: str) -> None:
        self._assumed.discard(key)
        self._remove(key)

    def _remove(self, key: str) -> None:
        node_name = self._pod_nodes.pop(key, None)
        if node_name is None:
            return
        info = self._nodes.get(node_name)
        if info is None:
            return
        info.remove_pod(key)
        if info.node is None and not info.pods:
            del self._nodes[node_name]
        self._refresh(info)

    def pod_node(self, key: str) -> str | None:
        return self._pod_nodes.get(key)

    def pod_count(self) -> int:
        return len(self._pod_nodes)

    def assumed_count(self) -> int:
        return len(self._assumed)
