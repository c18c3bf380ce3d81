"""DaemonSet logic: which nodes run a daemon pod, the pod template, rolling update steps, status."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers.daemonset import (
    compute_status,
    daemon_template,
    pin_to_node,
    rolling_update_plan,
    should_run,
    surge_and_unavailable,
    target_node,
)

Obj = dict[str, Any]
NOW = 1_700_000_100.0
READY_LONG_AGO = [{"type": "Ready", "status": "True", "lastTransitionTime": "2023-11-14T22:00:00Z"}]


def make_ds(*, rolling: Obj | None = None, **template_spec: Any) -> Obj:
    return {
        "metadata": {"name": "agent", "namespace": "ns", "uid": "u-1", "generation": 3},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling or {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}], **template_spec},
            },
        },
    }


def make_node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def make_pod(name: str, node: str, hash_: str, *, ready: bool = True) -> Obj:
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "agent", "controller-revision-hash": hash_},
            "creationTimestamp": "2023-11-14T21:00:00Z",
        },
        "spec": {"nodeName": node},
        "status": {"phase": "Running", "conditions": READY_LONG_AGO if ready else []},
    }


@pytest.mark.parametrize(
    ("ds", "node", "expected"),
    [
        (make_ds(), make_node("a"), (True, True)),
        (make_ds(nodeSelector={"disk": "ssd"}), make_node("a"), (False, False)),
        (make_ds(nodeSelector={"disk": "ssd"}), make_node("a", {"disk": "ssd"}), (True, True)),
        (make_ds(nodeName="b"), make_node("a"), (False, False)),
        # Untolerated NoSchedule: no new pod, but one already there keeps running.
        (make_ds(), make_node("a", taints=[{"key": "dedicated", "effect": "NoSchedule"}]), (False, True)),
        (make_ds(), make_node("a", taints=[{"key": "dedicated", "effect": "NoExecute"}]), (False, False)),
        # The automatic tolerations: unschedulable and not-ready (NoExecute) are tolerated...
        (
            make_ds(),
            make_node("a", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
            (True, True),
        ),
        (
            make_ds(),
            make_node("a", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
            (True, True),
        ),
        # ... but a not-ready node's NoSchedule taint is not.
        (
            make_ds(),
            make_node("a", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
            (False, True),
        ),
        (
            make_ds(),
            make_node(
                "a", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]
            ),
            (False, True),
        ),
        (
            make_ds(hostNetwork=True),
            make_node(
                "a", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]
            ),
            (True, True),
        ),
    ],
    ids=[
        "plain",
        "selector-miss",
        "selector-hit",
        "other-node-name",
        "noschedule",
        "noexecute",
        "unschedulable",
        "not-ready-noexecute",
        "not-ready-noschedule",
        "network-unavailable",
        "network-unavailable-hostnetwork",
    ],
)
def test_should_run(ds: Obj, node: Obj, expected: tuple[bool, bool]) -> None:
    assert should_run(node, ds) == expected


def test_template_and_pinning() -> None:
    ds = make_ds(
        tolerations=[
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
        ]
    )
    ds["metadata"]["annotations"] = {"deprecated.daemonset.template.generation": "3"}
    template = daemon_template(ds, "abc")
    assert template["metadata"]["labels"] == {
        "app": "agent",
        "controller-revision-hash": "abc",
        "pod-template-generation": "3",
    }
    keys = [t["key"] for t in template["spec"]["tolerations"]]
    assert len(keys) == len(set(keys)) == 6  # the user's unschedulable toleration is not doubled
    pinned = pin_to_node(template, "node-1")
    assert target_node({"spec": pinned["spec"]}) == "node-1"
    assert "affinity" not in template["spec"]  # the template itself is untouched
    assert target_node({"spec": {"nodeName": "node-2", **pinned["spec"]}}) == "node-2"


def test_surge_and_unavailable_round_up() -> None:
    assert surge_and_unavailable(make_ds(rolling={"maxUnavailable": "10%"}), 15) == (0, 2)
    assert surge_and_unavailable(make_ds(rolling={"maxUnavailable": 0, "maxSurge": "20%"}), 4) == (1, 0)
    assert surge_and_unavailable(make_ds(rolling={"maxUnavailable": 0, "maxSurge": 0}), 4) == (0, 1)


def test_rolling_update_without_surge_deletes_up_to_max_unavailable() -> None:
    ds = make_ds(rolling={"maxUnavailable": 2})
    by_node = {f"n{i}": [make_pod(f"p{i}", f"n{i}", "old")] for i in range(4)}
    by_node["n0"] = [
        make_pod("p0", "n0", "new", ready=False)
    ]  # already updated, not ready yet: 1 unavailable
    by_node["n3"] = [make_pod("p3", "n3", "old", ready=False)]  # old and unavailable: replaced at once
    to_delete, to_start = rolling_update_plan(ds, by_node, 4, "new", NOW)
    assert [p["metadata"]["name"] for p in to_delete] == ["p3", "p1"]
    assert to_start == []


def test_rolling_update_with_surge_starts_new_pods_then_deletes_old_ones() -> None:
    ds = make_ds(rolling={"maxUnavailable": 0, "maxSurge": 1})
    by_node = {
        "n0": [make_pod("old0", "n0", "old"), make_pod("new0", "n0", "new")],  # new one available: old goes
        "n1": [make_pod("old1", "n1", "old")],
        "n2": [make_pod("old2", "n2", "old")],
    }
    to_delete, to_start = rolling_update_plan(ds, by_node, 3, "new", NOW)
    assert [p["metadata"]["name"] for p in to_delete] == ["old0"]
    assert to_start == ["n1"]  # one surge pod at a time


def test_status_counts() -> None:
    ds = make_ds(nodeSelector={"role": "edge"})
    nodes = [make_node("a", {"role": "edge"}), make_node("b", {"role": "edge"}), make_node("c")]
    by_node = {"a": [make_pod("pa", "a", "new")], "c": [make_pod("pc", "c", "old")]}
    assert compute_status(ds, nodes, by_node, "new", NOW) == {
        "desiredNumberScheduled": 2,
        "currentNumberScheduled": 1,
        "numberMisscheduled": 1,
        "numberReady": 1,
        "numberAvailable": 1,
        "updatedNumberScheduled": 1,
        "numberUnavailable": 1,
    }
