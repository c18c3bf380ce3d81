"""The default profile's plugins, one module each, and the weights upstream gives their scores."""

from __future__ import annotations

from kubeling.scheduler.framework import ClusterView, FilterPlugin, ScorePlugin
from kubeling.scheduler.plugins.imagelocality import ImageLocality
from kubeling.scheduler.plugins.interpodaffinity import InterPodAffinity
from kubeling.scheduler.plugins.nodeaffinity import NodeAffinity
from kubeling.scheduler.plugins.nodename import NodeName
from kubeling.scheduler.plugins.nodeports import NodePorts
from kubeling.scheduler.plugins.noderesources import BalancedAllocation, NodeResourcesFit
from kubeling.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kubeling.scheduler.plugins.podtopologyspread import DefaultSelector, PodTopologySpread
from kubeling.scheduler.plugins.tainttoleration import TaintToleration


def default_plugins(
    cluster: ClusterView, default_selector: DefaultSelector | None = None
) -> tuple[list[FilterPlugin], list[ScorePlugin]]:
    """Filters in upstream's order (cheap, node-local ones first) and weighted scores.

    ``default_selector`` (pod -> selector of the workloads and Services that
    select it) enables PodTopologySpread's system-default spreading.
    """
    fit = NodeResourcesFit()
    affinity = NodeAffinity()
    taints = TaintToleration(cluster)
    pod_affinity = InterPodAffinity(cluster)
    spread = PodTopologySpread(cluster, default_selector)
    filters: list[FilterPlugin] = [
        NodeUnschedulable(cluster),
        NodeName(),
        taints,
        affinity,
        NodePorts(),
        fit,
        spread,
        pod_affinity,
    ]
    scores: list[ScorePlugin] = [
        taints,
        affinity,
        fit,
        spread,
        pod_affinity,
        BalancedAllocation(),
        ImageLocality(cluster),
    ]
    return filters, scores
