"""The node cache: assumed pods count at once, are confirmed by the informer or forgotten."""

from __future__ import annotations

from kubeling.scheduler.framework import PodInfo
from tests.unit.scheduler.conftest import make_cache, make_node, make_pod


def test_assume_confirm_forget() -> None:
    cache = make_cache([make_node("n")])
    info = PodInfo(make_pod("p", cpu="1", memory="1Gi"))
    cache.assume_pod(info, "n")
    node = cache.get("n")
    assert node.requested.milli_cpu == 1000 and cache.is_assumed("default/p")
    cache.add_pod(make_pod("p", cpu="1", memory="1Gi", node="n"))  # the informer sees the binding
    assert not cache.is_assumed("default/p") and node.requested.milli_cpu == 1000 and len(node.pods) == 1
    cache.forget_pod("default/p")  # confirmed pods are not forgotten
    assert len(node.pods) == 1
    cache.remove_pod("default/p")
    assert node.requested.milli_cpu == 0 and not node.pods

    other = PodInfo(make_pod("q", cpu="2"))
    cache.assume_pod(other, "n")
    cache.forget_pod("default/q")
    assert node.requested.milli_cpu == 0 and cache.pod_count() == 0


def test_pods_on_unknown_nodes_wait_for_the_node() -> None:
    cache = make_cache([], [make_pod("p", cpu="1", node="later")])
    assert cache.get("later") is None and len(cache) == 0
    cache.add_node(make_node("later"))
    assert cache.get("later").requested.milli_cpu == 1000
    cache.remove_node("later")
    assert cache.get("later") is None
    cache.remove_pod("default/p")
    assert cache.pod_count() == 0


def test_non_zero_requests_and_ports_are_tracked() -> None:
    pod = make_pod("p", node="n")
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    cache = make_cache([make_node("n")], [pod])
    node = cache.get("n")
    assert (node.non0_cpu, node.non0_mem) == (100, 200 * 1024 * 1024)
    assert node.used_ports == {("TCP", 80): {"0.0.0.0"}}
    cache.remove_pod("default/p")
    assert node.used_ports == {} and node.non0_cpu == 0
