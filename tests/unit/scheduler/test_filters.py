"""Filter plugins, table-driven: a pod, a node (with pods on it) → fits or the reason it does not."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.scheduler.framework import SKIP, Code, CycleState, PodInfo, Status
from kubeling.scheduler.plugins.interpodaffinity import InterPodAffinity
from kubeling.scheduler.plugins.nodeaffinity import NodeAffinity
from kubeling.scheduler.plugins.nodename import NodeName
from kubeling.scheduler.plugins.nodeports import NodePorts
from kubeling.scheduler.plugins.noderesources import NodeResourcesFit
from kubeling.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kubeling.scheduler.plugins.podtopologyspread import PodTopologySpread
from kubeling.scheduler.plugins.tainttoleration import TaintToleration
from tests.unit.scheduler.conftest import make_cache, make_node, make_pod

UNSCHED = Code.UNSCHEDULABLE
UNRESOLVABLE = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def run_filter(plugin: Any, pod: dict, node: dict, existing: list[dict] = ()) -> Status | None:
    cache = make_cache([node], list(existing))
    if hasattr(plugin, "cluster"):
        plugin.cluster = cache
    info = PodInfo(pod)
    state = CycleState()
    pre = plugin.pre_filter(state, info)
    if pre is SKIP:
        return None
    assert pre is None
    return plugin.filter(state, info, cache.get(node["metadata"]["name"]))


def verdict(status: Status | None) -> tuple[Code, list[str]] | None:
    return None if status is None else (status.code, status.reasons)


FIT_CASES = [
    ("fits", make_pod(cpu="1", memory="1Gi"), make_node("n", cpu="2"), [], None),
    (
        "cpu",
        make_pod(cpu="3"),
        make_node("n", cpu="4"),
        [make_pod("a", cpu="2", node="n")],
        (UNSCHED, ["Insufficient cpu"]),
    ),
    (
        "cpu-and-memory",
        make_pod(cpu="5", memory="20Gi"),
        make_node("n"),
        [],
        (UNSCHED, ["Insufficient cpu", "Insufficient memory"]),
    ),
    ("pods", make_pod(), make_node("n", pods="1"), [make_pod("a", node="n")], (UNSCHED, ["Too many pods"])),
    (
        "extended",
        {
            **make_pod(),
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "2"}}}]},
        },
        make_node("n", extra={"example.com/gpu": "1"}),
        [],
        (UNSCHED, ["Insufficient example.com/gpu"]),
    ),
    (
        "zero-request-on-full-node",
        make_pod(),
        make_node("n", cpu="1"),
        [make_pod("a", cpu="1", node="n")],
        None,
    ),
]


@pytest.mark.parametrize(
    ("pod", "node", "existing", "expected"), [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES]
)
def test_node_resources_fit(pod: dict, node: dict, existing: list[dict], expected: Any) -> None:
    assert verdict(run_filter(NodeResourcesFit(), pod, node, existing)) == expected


NOSCHED_TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
TAINT_CASES = [
    ("untainted", make_pod(), make_node("n"), None),
    (
        "untolerated",
        make_pod(),
        make_node("n", taints=[NOSCHED_TAINT]),
        (UNRESOLVABLE, ["node(s) had untolerated taint(s)"]),
    ),
    (
        "tolerated-equal",
        make_pod(
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
        ),
        make_node("n", taints=[NOSCHED_TAINT]),
        None,
    ),
    (
        "wrong-value",
        make_pod(tolerations=[{"key": "dedicated", "value": "web"}]),
        make_node("n", taints=[NOSCHED_TAINT]),
        (UNRESOLVABLE, ["node(s) had untolerated taint(s)"]),
    ),
    (
        "exists-all",
        make_pod(tolerations=[{"operator": "Exists"}]),
        make_node("n", taints=[NOSCHED_TAINT]),
        None,
    ),
    (
        "prefer-no-schedule-does-not-filter",
        make_pod(),
        make_node("n", taints=[{"key": "k", "effect": "PreferNoSchedule"}]),
        None,
    ),
    (
        "no-execute",
        make_pod(),
        make_node("n", taints=[{"key": "k", "effect": "NoExecute"}]),
        (UNRESOLVABLE, ["node(s) had untolerated taint(s)"]),
    ),
]


@pytest.mark.parametrize(
    ("pod", "node", "expected"), [c[1:] for c in TAINT_CASES], ids=[c[0] for c in TAINT_CASES]
)
def test_taint_toleration(pod: dict, node: dict, expected: Any) -> None:
    assert verdict(run_filter(TaintToleration(), pod, node)) == expected


def required(*terms: dict) -> dict:
    return {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    }


AFFINITY_REASON = (UNRESOLVABLE, ["node(s) didn't match Pod's node affinity/selector"])
AFFINITY_CASES = [
    ("selector-match", make_pod(nodeSelector={"disk": "ssd"}), make_node("n", labels={"disk": "ssd"}), None),
    ("selector-miss", make_pod(nodeSelector={"disk": "ssd"}), make_node("n"), AFFINITY_REASON),
    (
        "in",
        make_pod(
            affinity=required({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]})
        ),
        make_node("n", labels={"zone": "b"}),
        None,
    ),
    (
        "notin",
        make_pod(
            affinity=required({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]})
        ),
        make_node("n", labels={"zone": "b"}),
        AFFINITY_REASON,
    ),
    (
        "terms-are-ored",
        make_pod(
            affinity=required(
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
                {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}]},
            )
        ),
        make_node("n", labels={"gen": "4"}),
        None,
    ),
    (
        "match-fields",
        make_pod(
            affinity=required(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["other"]}]}
            )
        ),
        make_node("n"),
        AFFINITY_REASON,
    ),
    (
        "empty-term-matches-nothing",
        make_pod(affinity=required({})),
        make_node("n"),
        AFFINITY_REASON,
    ),
]


@pytest.mark.parametrize(
    ("pod", "node", "expected"), [c[1:] for c in AFFINITY_CASES], ids=[c[0] for c in AFFINITY_CASES]
)
def test_node_affinity(pod: dict, node: dict, expected: Any) -> None:
    assert verdict(run_filter(NodeAffinity(), pod, node)) == expected


def test_node_unschedulable_and_node_name() -> None:
    cordoned = make_node("n", unschedulable=True)
    assert verdict(run_filter(NodeUnschedulable(), make_pod(), cordoned)) == (
        UNRESOLVABLE,
        ["node(s) were unschedulable"],
    )
    tolerant = make_pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}])
    assert run_filter(NodeUnschedulable(), tolerant, cordoned) is None
    assert verdict(run_filter(NodeName(), make_pod(nodeName="other"), make_node("n"))) == (
        UNRESOLVABLE,
        ["node(s) didn't match the requested node name"],
    )


def with_port(name: str, port: int, host_ip: str = "", node: str = "") -> dict:
    pod = make_pod(name, node=node)
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": port, "hostIP": host_ip}]
    return pod


@pytest.mark.parametrize(
    ("pod", "existing", "fits"),
    [
        (with_port("p", 8080), [with_port("a", 8081, node="n")], True),
        (with_port("p", 8080), [with_port("a", 8080, node="n")], False),
        (with_port("p", 8080, "10.0.0.1"), [with_port("a", 8080, "10.0.0.2", node="n")], True),
        (with_port("p", 8080, "10.0.0.1"), [with_port("a", 8080, node="n")], False),
    ],
    ids=["other-port", "same-port", "different-ips", "wildcard-ip-taken"],
)
def test_node_ports(pod: dict, existing: list[dict], fits: bool) -> None:
    status = run_filter(NodePorts(), pod, make_node("n"), existing)
    assert (status is None) == fits
    if not fits:
        assert status.reasons == ["node(s) didn't have free ports for the requested pod ports"]


def anti(labels: dict[str, str], key: str = "kubernetes.io/hostname") -> dict:
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
            ]
        }
    }


def affinity(labels: dict[str, str], key: str = "kubernetes.io/hostname") -> dict:
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
            ]
        }
    }


WEB = {"app": "web"}
POD_AFFINITY_CASES = [
    ("anti-free", make_pod(labels=WEB, affinity=anti(WEB)), [], None),
    (
        "anti-taken",
        make_pod(labels=WEB, affinity=anti(WEB)),
        [make_pod("a", labels=WEB, node="n")],
        (UNSCHED, ["node(s) didn't match pod anti-affinity rules"]),
    ),
    (
        "existing-anti",
        make_pod(labels=WEB),
        [make_pod("a", labels={"app": "db"}, node="n", affinity=anti(WEB))],
        (UNSCHED, ["node(s) didn't satisfy existing pods anti-affinity rules"]),
    ),
    (
        "existing-anti-other-namespace",
        make_pod(labels=WEB, namespace="other"),
        [make_pod("a", node="n", affinity=anti(WEB))],
        None,
    ),
    (
        "affinity-met",
        make_pod(affinity=affinity({"app": "db"})),
        [make_pod("a", labels={"app": "db"}, node="n")],
        None,
    ),
    (
        "affinity-unmet",
        make_pod(affinity=affinity({"app": "db"})),
        [make_pod("a", labels={"app": "cache"}, node="n")],
        (UNRESOLVABLE, ["node(s) didn't match pod affinity rules"]),
    ),
    ("first-of-group", make_pod(labels=WEB, affinity=affinity(WEB)), [], None),
]


@pytest.mark.parametrize(
    ("pod", "existing", "expected"),
    [c[1:] for c in POD_AFFINITY_CASES],
    ids=[c[0] for c in POD_AFFINITY_CASES],
)
def test_inter_pod_affinity(pod: dict, existing: list[dict], expected: Any) -> None:
    assert verdict(run_filter(InterPodAffinity(make_cache([])), pod, make_node("n"), existing)) == expected


def spread(max_skew: int = 1, key: str = "zone", when: str = "DoNotSchedule", **extra: Any) -> list[dict]:
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": WEB},
            **extra,
        }
    ]


def test_pod_topology_spread_filter() -> None:
    nodes = [make_node("a", labels={"zone": "1"}), make_node("b", labels={"zone": "2"}), make_node("c")]
    existing = [
        make_pod("w1", labels=WEB, node="a"),
        make_pod("w2", labels=WEB, node="a"),
        make_pod("w3", labels=WEB, node="b"),
    ]
    cache = make_cache(nodes, existing)
    plugin = PodTopologySpread(cache)
    pod = PodInfo(make_pod(labels=WEB, topologySpreadConstraints=spread()))
    state = CycleState()
    assert plugin.pre_filter(state, pod) is None
    # zone 1 has 2, zone 2 has 1: adding to zone 1 makes skew 3-1 = 2 > 1.
    assert verdict(plugin.filter(state, pod, cache.get("a"))) == (
        UNSCHED,
        ["node(s) didn't match pod topology spread constraints"],
    )
    assert plugin.filter(state, pod, cache.get("b")) is None
    assert verdict(plugin.filter(state, pod, cache.get("c"))) == (
        UNRESOLVABLE,
        ["node(s) didn't match pod topology spread constraints (missing required label)"],
    )
    # minDomains 3 with two domains: the global minimum counts as 0, so zone 2 (1 + 1) is over skew 1 too.
    strict = PodInfo(make_pod(labels=WEB, topologySpreadConstraints=spread(minDomains=3)))
    state = CycleState()
    plugin.pre_filter(state, strict)
    assert plugin.filter(state, strict, cache.get("b")).code == UNSCHED
    assert plugin.pre_filter(CycleState(), PodInfo(make_pod())) is SKIP
