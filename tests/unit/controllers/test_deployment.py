"""Deployment arithmetic: fenceposts, new ReplicaSet size, proportional scaling, annotations."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers import deploymentutil as du

Obj = dict[str, Any]


def make_deployment(
    replicas: int, surge: int | str = "25%", unavailable: int | str = "25%", *, status_replicas: int = 0
) -> Obj:
    return {
        "metadata": {"name": "web", "generation": 2, "annotations": {"team": "a", du.REVISION: "4"}},
        "spec": {
            "replicas": replicas,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            "template": {"metadata": {"labels": {"app": "web"}}},
        },
        "status": {"replicas": status_replicas},
    }


def make_rs(
    name: str, replicas: int, *, created: str, max_replicas: int | None = None, available: int = 0
) -> Obj:
    annotations = {du.MAX_REPLICAS: str(max_replicas)} if max_replicas is not None else {}
    return {
        "metadata": {"name": name, "uid": name, "creationTimestamp": created, "annotations": annotations},
        "spec": {"replicas": replicas},
        "status": {"availableReplicas": available},
    }


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable down
        ("25%", "25%", 1, (1, 0)),
        (0, 0, 5, (0, 1)),  # both zero: one may be unavailable
        ("0%", "0%", 5, (0, 1)),
        (2, "50%", 5, (2, 2)),
        ("10%", 3, 0, (0, 3)),
    ],
)
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    assert du.resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_by_replicas_and_zero_for_recreate() -> None:
    assert du.max_unavailable(make_deployment(2, 0, 5)) == 2
    recreate = make_deployment(4)
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    assert du.max_unavailable(recreate) == 0 and du.max_surge(recreate) == 0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (10, 0, 1),  # 10 + surge 1 allows one more pod
        (9, 1, 2),
        (11, 0, 0),  # already over replicas + surge: stay
        (0, 8, 10),  # old gone: grow to the full size
    ],
)
def test_new_rs_new_replicas(old: int, new: int, expected: int) -> None:
    d = make_deployment(10, 1, 1)
    old_rs = make_rs("old", old, created="2024-01-01T00:00:00Z")
    new_rs = make_rs("new", new, created="2024-01-02T00:00:00Z")
    assert du.new_rs_new_replicas(d, [old_rs, new_rs], new_rs) == expected


def test_proportional_scaling_splits_growth_by_size() -> None:
    # Mid-rollout 10 → 15 replicas with surge 3 (25% of 10 rounded up): sizes were 8 and 5 of max 13.
    d = make_deployment(15, 3, 0)  # new max: 15 + 3 = 18
    old = make_rs("old", 8, created="2024-01-01T00:00:00Z", max_replicas=13)
    new = make_rs("new", 5, created="2024-01-02T00:00:00Z", max_replicas=13)
    sizes = du.proportional_sizes(d, [old, new])
    assert sizes == {"old": 11, "new": 7}  # round(8*18/13)=11, round(5*18/13)=7; all 5 added
    assert sum(sizes.values()) == 18


def test_proportional_scaling_down_puts_the_leftover_on_the_biggest() -> None:
    d = make_deployment(5, 1, 0)  # max 6
    old = make_rs("old", 6, created="2024-01-01T00:00:00Z", max_replicas=11)
    new = make_rs("new", 5, created="2024-01-02T00:00:00Z", max_replicas=11)
    sizes = du.proportional_sizes(d, [old, new])
    assert sum(sizes.values()) == 6
    assert sizes == {"old": 3, "new": 3}


def test_find_active_or_latest() -> None:
    old = make_rs("old", 0, created="2024-01-01T00:00:00Z")
    older = make_rs("older", 0, created="2023-01-01T00:00:00Z")
    new = make_rs("new", 3, created="2024-01-02T00:00:00Z")
    assert du.find_active_or_latest(new, [old, older]) is new
    assert du.find_active_or_latest(None, [older, old]) is old  # none active: the newest
    assert du.find_active_or_latest(new, [make_rs("busy", 1, created="2024-01-01T00:00:00Z")]) is None


def test_new_rs_annotations_on_create_and_on_rollback() -> None:
    d = make_deployment(4, 1, 1)
    d["metadata"]["annotations"][du.LAST_APPLIED] = "{}"
    rs: Obj = {"metadata": {}, "spec": {"replicas": 0}}
    assert du.set_new_rs_annotations(d, rs, "5", exists=False)
    assert rs["metadata"]["annotations"] == {
        "team": "a",
        du.REVISION: "5",
        du.DESIRED_REPLICAS: "4",
        du.MAX_REPLICAS: "5",
    }
    # The same ReplicaSet made new again (a rollback) takes revision 7 and remembers 5.
    assert du.set_new_rs_annotations(d, rs, "7", exists=True)
    assert rs["metadata"]["annotations"][du.REVISION] == "7"
    assert rs["metadata"]["annotations"][du.REVISION_HISTORY] == "5"
    du.set_new_rs_annotations(d, rs, "9", exists=True)
    assert rs["metadata"]["annotations"][du.REVISION_HISTORY] == "5,7"
    assert not du.set_new_rs_annotations(d, rs, "9", exists=True)


def test_set_condition_keeps_transition_time_and_skips_same_reason() -> None:
    status: Obj = {}
    du.set_condition(status, du.new_condition("Available", "True", "A", "m", "t1"))
    du.set_condition(status, du.new_condition("Available", "True", "A", "other", "t2"))
    assert status["conditions"][0]["lastUpdateTime"] == "t1"  # same status and reason: untouched
    du.set_condition(status, du.new_condition("Available", "True", "B", "m", "t3"))
    assert status["conditions"] == [
        {
            "type": "Available",
            "status": "True",
            "lastUpdateTime": "t3",
            "lastTransitionTime": "t1",
            "reason": "B",
            "message": "m",
        }
    ]


def test_status_and_completion() -> None:
    d = make_deployment(3, 1, 1)
    old = make_rs("old", 1, created="2024-01-01T00:00:00Z", available=1)
    old["status"].update(replicas=1, readyReplicas=1)
    new = make_rs("new", 3, created="2024-01-02T00:00:00Z", available=1)
    new["status"].update(replicas=3, readyReplicas=2)
    status = du.calculate_status([old, new], new, d, "now")
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 2,
        "replicas": 4,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 2,
        "unavailableReplicas": 2,
    }
    assert du.get_condition(status, "Available")["reason"] == "MinimumReplicasAvailable"  # 2 >= 3 - 1
    assert not du.deployment_complete(d, status)
    assert du.deployment_progressing(d, status)  # updated replicas went from 0 to 3


def test_timed_out_after_the_deadline() -> None:
    d = make_deployment(1)
    d["spec"]["progressDeadlineSeconds"] = 10
    status = {"conditions": [du.new_condition("Progressing", "True", du.RS_UPDATED, "", "t")]}
    assert not du.deployment_timed_out(d, status, 105.0, lambda _: 100.0)
    assert du.deployment_timed_out(d, status, 111.0, lambda _: 100.0)
    d["spec"]["progressDeadlineSeconds"] = du.MAX_INT32
    assert not du.deployment_timed_out(d, status, 1e12, lambda _: 100.0)
