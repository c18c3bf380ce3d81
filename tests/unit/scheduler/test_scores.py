"""Score plugins: batched (memoized) scores equal per-node scores, before and after nodes change."""

from __future__ import annotations

from kubeling.scheduler.framework import CycleState, PodInfo
from kubeling.scheduler.plugins.noderesources import BalancedAllocation, NodeResourcesFit
from tests.unit.scheduler.conftest import make_cache, make_node, make_pod


def test_batched_scores_match_and_follow_node_changes() -> None:
    cache = make_cache(
        [
            make_node("a", cpu="2", memory="4Gi"),
            make_node("b", cpu="8", memory="4Gi"),
            make_node("c", cpu="1"),
        ],
        [make_pod("x", cpu="500m", memory="1Gi", node="a")],
    )
    nodes = cache.node_infos()
    for plugin in (NodeResourcesFit(), BalancedAllocation()):
        pod = PodInfo(make_pod("p", cpu="250m", memory="512Mi"))
        state = CycleState()
        expected = [plugin.score(state, pod, n) for n in nodes]
        assert plugin.score_nodes(state, pod, nodes) == expected
        cache.assume_pod(PodInfo(make_pod(f"y-{plugin.name}", cpu="1", memory="2Gi")), "b")
        changed = [plugin.score(state, pod, n) for n in nodes]
        assert changed != expected
        assert plugin.score_nodes(state, pod, nodes) == changed


def test_least_allocated_values() -> None:
    cache = make_cache([make_node("n", cpu="4", memory="4Gi")])
    node = cache.get("n")
    # cpu: (4000-1000)/4000 -> 75; memory: (4Gi-1Gi)/4Gi -> 75
    assert NodeResourcesFit().score(CycleState(), PodInfo(make_pod(cpu="1", memory="1Gi")), node) == 75
    # balanced: cpu 0.25 vs memory 0.5 -> 1 - 0.125 -> 87
    assert BalancedAllocation().score(CycleState(), PodInfo(make_pod(cpu="1", memory="2Gi")), node) == 87
