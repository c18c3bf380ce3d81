"""PodDisruptionBudget arithmetic: scaled values, expected and desired counts, disrupted pods, status."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers.disruption import (
    DELETION_TIMEOUT,
    build_status,
    current_healthy,
    expected_and_desired,
    live_disruptions,
    needs_scale,
    same_status,
    scaled_value,
    with_condition,
)
from kubeling.controllers.podutil import parse_time

Obj = dict[str, Any]
T0 = "2026-01-01T00:00:00Z"
NOW = parse_time(T0) or 0.0


def make_pod(name: str, *, ready: bool = True, deleting: bool = False) -> Obj:
    meta: Obj = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = T0
    return {
        "metadata": meta,
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [(2, 10, 2), ("50%", 3, 2), ("10%", 10, 1), ("1%", 10, 1), ("0%", 10, 0), ("3", 10, 3)],
)
def test_scaled_value_rounds_up(value: int | str, total: int, expected: int) -> None:
    assert scaled_value(value, total) == expected


def test_scaled_value_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        scaled_value("many", 3)


@pytest.mark.parametrize(
    ("spec", "pods", "scale", "expected"),
    [
        ({"minAvailable": 2}, 3, 99, (3, 2)),
        ({"minAvailable": "50%"}, 3, 4, (4, 2)),
        ({"maxUnavailable": 1}, 3, 5, (5, 4)),
        ({"maxUnavailable": "25%"}, 3, 5, (5, 3)),
        ({"maxUnavailable": 9}, 3, 5, (5, 0)),
        ({}, 3, 5, (0, 0)),
    ],
    ids=["min-int", "min-percent", "max-int", "max-percent", "max-over", "neither"],
)
def test_expected_and_desired(spec: Obj, pods: int, scale: int, expected: tuple[int, int]) -> None:
    assert expected_and_desired(spec, [make_pod(str(i)) for i in range(pods)], scale) == expected


def test_needs_scale() -> None:
    assert not needs_scale({"minAvailable": 2})
    assert needs_scale({"minAvailable": "50%"})
    assert needs_scale({"maxUnavailable": 0})


def test_disrupted_pods_expire_and_leave_with_their_pods() -> None:
    pdb = {
        "status": {"disruptedPods": {"fresh": T0, "old": "2025-12-31T23:00:00Z", "gone": T0, "leaving": T0}}
    }
    pods = [make_pod("fresh"), make_pod("old"), make_pod("leaving", deleting=True), make_pod("other")]
    kept, recheck, overdue = live_disruptions(pdb, pods, NOW + 10)
    assert kept == {"fresh": T0}
    assert recheck == NOW + DELETION_TIMEOUT
    assert [p["metadata"]["name"] for p in overdue] == ["old"]
    # Ready, not being deleted, not just disrupted.
    assert current_healthy([*pods, make_pod("sick", ready=False)], kept) == 2


def test_status_and_condition() -> None:
    pdb: Obj = {"metadata": {"generation": 3}, "status": {}}
    status = build_status(pdb, healthy=3, desired=2, expected=3, disrupted={}, now=T0)
    assert status == {
        "observedGeneration": 3,
        "currentHealthy": 3,
        "desiredHealthy": 2,
        "expectedPods": 3,
        "disruptionsAllowed": 1,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True",
                "observedGeneration": 3,
                "lastTransitionTime": T0,
                "reason": "SufficientPods",
                "message": "",
            }
        ],
    }
    # No pods expected yet: nothing may be disrupted, whatever the arithmetic says.
    assert (
        build_status(pdb, healthy=1, desired=0, expected=0, disrupted={}, now=T0)["disruptionsAllowed"] == 0
    )
    pdb["status"] = status
    again = build_status(pdb, healthy=3, desired=2, expected=3, disrupted={}, now="LATER")
    assert same_status(status, again)  # the transition time stays while the status does
    worse = build_status(pdb, healthy=2, desired=2, expected=3, disrupted={}, now="LATER")
    (cond,) = worse["conditions"]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == (
        "False",
        "InsufficientPods",
        "LATER",
    )


def test_sync_failed_condition() -> None:
    (cond,) = with_condition([], False, 1, T0, reason="SyncFailed", message="found no controllers")
    assert (cond["reason"], cond["message"]) == ("SyncFailed", "found no controllers")
