"""ImageLocality: prefer nodes that already hold the pod's images (from ``status.images``).

Each image present scores its size scaled by how many nodes share it (so a
ubiquitous image does not dominate); the sum is clamped between 23 MiB and
1000 MiB per container and mapped onto 0..100.  Nodes that report no images
(hollow nodes) make PreScore skip.
"""

from __future__ import annotations

from kubeling.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    ClusterView,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
)

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized_image(name: str) -> str:
    """Images without a tag mean ``:latest``, as the kubelet reports them."""
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        return name + ":latest"
    return name


class ImageLocality:
    name = NAME
    weight = 1

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not self.cluster.count("images") or not any(node.image_sizes for node in nodes):
            return SKIP
        spec = pod.pod.get("spec") or {}
        images = [
            normalized_image(c.get("image") or "")
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        ]
        all_nodes = list(self.cluster.node_infos())
        spread = {image: sum(1 for n in all_nodes if image in n.image_sizes) for image in set(images)}
        state[NAME] = (images, spread, max(len(all_nodes), 1))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        images, spread, total = state[NAME]
        summed = sum(node.image_sizes[i] * spread[i] // total for i in images if i in node.image_sizes)
        max_threshold = MAX_CONTAINER_THRESHOLD * max(len(images), 1)
        summed = min(max(summed, MIN_THRESHOLD), max_threshold)
        return MAX_NODE_SCORE * (summed - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None
