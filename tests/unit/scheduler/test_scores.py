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


def test_preferred_pod_affinity_and_spread_scores() -> None:
    from kubeling.scheduler.algorithm import Algorithm
    from kubeling.scheduler.plugins import default_plugins

    cache = make_cache(
        [make_node("a", labels={"zone": "1"}), make_node("b", labels={"zone": "2"})],
        [
            make_pod("cache-0", node="a", labels={"app": "cache"}),
            make_pod("web-0", node="b", labels={"app": "web"}),
        ],
    )
    algorithm = Algorithm(*default_plugins(cache))
    near_cache = make_pod(
        "p",
        affinity={
            "podAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": "cache"}},
                            "topologyKey": "zone",
                        },
                    }
                ]
            }
        },
    )
    assert algorithm.schedule(PodInfo(near_cache), cache.node_infos()).node == "a"
    spread = make_pod(
        "q",
        labels={"app": "web"},
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "web"}},
            }
        ],
    )
    assert algorithm.schedule(PodInfo(spread), cache.node_infos()).node == "a"  # zone 2 already has a web pod


def test_image_locality_prefers_nodes_with_the_image() -> None:
    from kubeling.scheduler.plugins.imagelocality import ImageLocality, normalized_image

    with_image = make_node("warm")
    with_image["status"]["images"] = [{"names": ["registry/app:1.0"], "sizeBytes": 500 * 1024 * 1024}]
    cache = make_cache([with_image, make_node("cold")])
    plugin = ImageLocality(cache)
    pod = make_pod()
    pod["spec"]["containers"][0]["image"] = "registry/app:1.0"
    info, state = PodInfo(pod), CycleState()
    assert plugin.pre_score(state, info, cache.node_infos()) is None
    warm, cold = (plugin.score(state, info, n) for n in cache.node_infos())
    assert warm > cold == 0
    assert normalized_image("busybox") == "busybox:latest"


def test_system_default_spreading_uses_the_owning_selector() -> None:
    from kubeling.api.selectors import label_selector_from_dict
    from kubeling.scheduler.plugins.podtopologyspread import PodTopologySpread

    web = {"app": "web"}
    cache = make_cache(
        [make_node("a"), make_node("b")],  # no zone labels: only the hostname default applies
        [make_pod("w1", node="a", labels=web), make_pod("w2", node="a", labels=web)],
    )
    selector = label_selector_from_dict({"matchLabels": web})
    plugin = PodTopologySpread(cache, default_selector=lambda pod: selector if pod.labels == web else None)
    pod, state = PodInfo(make_pod("w3", labels=web)), CycleState()
    nodes = cache.node_infos()
    assert plugin.pre_score(state, pod, nodes) is None
    scores = [plugin.score(state, pod, n) for n in nodes]
    plugin.normalize(state, pod, scores)
    assert scores[1] > scores[0]  # b has none of the replicas
    assert (
        plugin.pre_score(CycleState(), PodInfo(make_pod("loner")), nodes) is not None
    )  # Skip: nothing selects it
