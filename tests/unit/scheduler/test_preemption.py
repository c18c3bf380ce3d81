"""Victim selection and candidate ranking, as DefaultPreemption does them."""

from __future__ import annotations

import random

import pytest

from kubeling.scheduler.algorithm import Algorithm, FitError
from kubeling.scheduler.framework import PodInfo
from kubeling.scheduler.plugins import default_plugins
from kubeling.scheduler.preemption import Budget, Candidate, find_candidate, pick_one
from tests.unit.scheduler.conftest import make_cache, make_node, make_pod


def attempt(cache, pod: dict, budgets: list[Budget] = ()) -> tuple[Candidate | None, str]:
    filters, scores = default_plugins(cache)
    algorithm = Algorithm(filters, scores)
    info = PodInfo(pod)
    with pytest.raises(FitError) as caught:
        algorithm.schedule(info, cache.node_infos())
    return find_candidate(algorithm, caught.value, cache.node_infos(), list(budgets), rng=random.Random(0))


def test_evicts_only_what_is_needed_on_the_cheapest_node() -> None:
    cache = make_cache(
        [make_node("a", cpu="2"), make_node("b", cpu="2")],
        [
            make_pod("a-low", cpu="1", priority=1, node="a"),
            make_pod("a-mid", cpu="1", priority=5, node="a"),
            make_pod("b-mid1", cpu="1", priority=5, node="b"),
            make_pod("b-mid2", cpu="1", priority=5, node="b"),
        ],
    )
    candidate, message = attempt(cache, make_pod("vip", cpu="1", priority=10))
    assert message == ""
    assert candidate.node == "a"
    assert [v.name for v in candidate.victims] == ["a-low"]


def test_no_victims_message() -> None:
    cache = make_cache(
        [make_node(f"n{i}", cpu="1") for i in range(3)],
        [make_pod(f"hi{i}", cpu="1", priority=100, node=f"n{i}") for i in range(3)],
    )
    candidate, message = attempt(cache, make_pod("p", cpu="1", priority=10))
    assert candidate is None
    assert message == "0/3 nodes are available: 3 No preemption victims found for incoming pod."


def test_unresolvable_nodes_are_not_helped_and_never_policy() -> None:
    cache = make_cache([make_node("t", taints=[{"key": "k", "effect": "NoSchedule"}], cpu="1")])
    candidate, message = attempt(cache, make_pod("p", cpu="2", priority=10))
    assert message == "0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    full = make_cache([make_node("n", cpu="1")], [make_pod("low", cpu="1", node="n")])
    candidate, message = attempt(full, make_pod("p", cpu="1", priority=10, preemptionPolicy="Never"))
    assert (candidate, message) == (None, "not eligible due to preemptionPolicy=Never.")


def test_pdb_violations_are_avoided() -> None:
    cache = make_cache(
        [make_node("a", cpu="1"), make_node("b", cpu="1")],
        [
            make_pod("guarded", cpu="1", priority=1, node="a", labels={"app": "db"}),
            make_pod("free", cpu="1", priority=3, node="b"),
        ],
    )
    budget = Budget.from_object(
        {
            "metadata": {"namespace": "default", "name": "db"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 0},
        }
    )
    candidate, _ = attempt(cache, make_pod("vip", cpu="1", priority=10), [budget])
    assert candidate.node == "b" and candidate.pdb_violations == 0
    candidate, _ = attempt(cache, make_pod("vip", cpu="1", priority=10))
    assert candidate.node == "a"  # without the budget the lower-priority victim wins


def test_pick_one_order() -> None:
    def victims(*priorities: int, start: str = "2026-01-01T00:00:00Z") -> list[PodInfo]:
        pods = []
        for i, p in enumerate(priorities):
            pod = make_pod(f"v{i}-{p}", priority=p)
            pod["status"]["startTime"] = start
            pods.append(PodInfo(pod))
        return pods

    fewer_violations = Candidate("x", victims(9), 0)
    assert pick_one([Candidate("y", victims(1), 1), fewer_violations]) is fewer_violations
    lower_top = Candidate("x", victims(1, 1, 1))
    assert pick_one([Candidate("y", victims(5)), lower_top]) is lower_top
    fewer = Candidate("x", victims(2))
    assert pick_one([Candidate("y", victims(2, 0)), fewer]) is fewer
    later = Candidate("x", victims(2, start="2026-02-01T00:00:00Z"))
    assert pick_one([Candidate("y", victims(2)), later]) is later
    assert pick_one([Candidate("y", victims(2)), Candidate("empty")]).node == "empty"


def test_anti_affinity_victim_is_found_through_prefilter_extensions() -> None:
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    cache = make_cache(
        [make_node("a"), make_node("b")],
        [
            make_pod("web-a", priority=1, node="a", labels={"app": "web"}),
            make_pod("web-b", priority=50, node="b", labels={"app": "web"}),
            make_pod("bystander", priority=1, node="a"),
        ],
    )
    candidate, message = attempt(cache, make_pod("vip", priority=10, affinity=anti))
    assert message == ""
    assert candidate.node == "a"
    assert [v.name for v in candidate.victims] == ["web-a"]  # the bystander is reprieved
