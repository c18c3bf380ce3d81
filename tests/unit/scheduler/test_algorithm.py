"""One decision: sampling, round-robin, scoring and upstream's FitError message."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kubeling.scheduler.algorithm import Algorithm, FitError, num_feasible_nodes_to_find
from kubeling.scheduler.framework import Code, PodInfo, Status
from kubeling.scheduler.plugins import default_plugins
from tests.unit.scheduler.conftest import make_cache, make_node, make_pod


@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [
        (10, 0, 10),
        (99, 0, 99),
        (100, 0, 100),
        (1000, 0, 420),
        (5000, 0, 500),
        (6000, 0, 300),
        (1000, 30, 300),
    ],
)
def test_num_feasible_nodes_to_find(nodes: int, percentage: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(nodes, percentage) == expected


def algorithm_for(cache) -> Algorithm:
    filters, scores = default_plugins(cache)
    return Algorithm(filters, scores, rng=random.Random(1))


def test_fit_error_message_counts_reasons_sorted() -> None:
    statuses = {
        "a": Status(Code.UNSCHEDULABLE, "Insufficient cpu", "Insufficient memory"),
        "b": Status(Code.UNSCHEDULABLE, "Insufficient cpu"),
        "c": Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "node(s) had untolerated taint(s)"),
    }
    error = FitError(PodInfo(make_pod()), 3, statuses)
    assert error.message() == (
        "0/3 nodes are available: 1 Insufficient memory, "
        "1 node(s) had untolerated taint(s), 2 Insufficient cpu."
    )
    error.post_filter_message = (
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )
    assert error.message().endswith(
        "cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )


def test_no_nodes_at_all() -> None:
    cache = make_cache([])
    with pytest.raises(FitError) as caught:
        algorithm_for(cache).schedule(PodInfo(make_pod()), cache.node_infos())
    assert caught.value.message() == "no nodes available to schedule pods"


def test_insufficient_cpu_everywhere() -> None:
    cache = make_cache([make_node(f"n{i}", cpu="1") for i in range(3)])
    with pytest.raises(FitError) as caught:
        algorithm_for(cache).schedule(PodInfo(make_pod(cpu="2")), cache.node_infos())
    assert caught.value.message() == "0/3 nodes are available: 3 Insufficient cpu."
    assert caught.value.unschedulable_plugins() == {"NodeResourcesFit"}


def test_spreads_equal_pods_evenly() -> None:
    cache = make_cache([make_node(f"n{i}") for i in range(3)])
    algorithm = algorithm_for(cache)
    for i in range(9):
        info = PodInfo(make_pod(f"p{i}", cpu="100m", memory="100Mi"))
        result = algorithm.schedule(info, cache.node_infos())
        cache.assume_pod(info, result.node)
    assert Counter(cache.pod_node(f"default/p{i}") for i in range(9)) == {"n0": 3, "n1": 3, "n2": 3}


def test_prefers_emptier_and_preferred_nodes() -> None:
    cache = make_cache(
        [make_node("busy"), make_node("idle"), make_node("fancy", labels={"disk": "ssd"})],
        [make_pod("hog", cpu="3", memory="8Gi", node="busy")],
    )
    algorithm = algorithm_for(cache)
    plain = PodInfo(make_pod(cpu="100m", memory="100Mi"))
    assert algorithm.schedule(plain, cache.node_infos()).node in {"idle", "fancy"}
    preferring = PodInfo(
        make_pod(
            cpu="100m",
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 10,
                            "preference": {
                                "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]
                            },
                        }
                    ]
                }
            },
        )
    )
    assert algorithm.schedule(preferring, cache.node_infos()).node == "fancy"


def test_prefer_no_schedule_taint_is_avoided() -> None:
    cache = make_cache(
        [make_node("tainted", taints=[{"key": "k", "effect": "PreferNoSchedule"}]), make_node("clean")]
    )
    algorithm = algorithm_for(cache)
    picks = {algorithm.schedule(PodInfo(make_pod(f"p{i}")), cache.node_infos()).node for i in range(5)}
    assert picks == {"clean"}


def test_stops_after_enough_feasible_nodes_and_walks_round_robin() -> None:
    cache = make_cache([make_node(f"n{i:04d}") for i in range(1000)])
    algorithm = algorithm_for(cache)
    first = algorithm.schedule(PodInfo(make_pod("a", cpu="10m")), cache.node_infos())
    assert first.evaluated == 420 and first.feasible == 420
    assert algorithm.next_start_index == 420
    second = algorithm.schedule(PodInfo(make_pod("b", cpu="10m")), cache.node_infos())
    assert second.evaluated == 420 and algorithm.next_start_index == 840


def test_nominated_pods_reserve_their_room() -> None:
    cache = make_cache([make_node("only", cpu="2")])
    algorithm = algorithm_for(cache)
    nominee = PodInfo(make_pod("vip", cpu="2", priority=100))
    algorithm.nominated["only"] = {nominee.key: nominee}
    with pytest.raises(FitError):
        algorithm.schedule(PodInfo(make_pod("low", cpu="1", priority=1)), cache.node_infos())
    assert algorithm.schedule(nominee, cache.node_infos(), "only").node == "only"
