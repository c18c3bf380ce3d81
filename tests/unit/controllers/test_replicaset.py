"""Pure pieces of the ReplicaSet controller: slow-start batches and the status it computes."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers.replicaset import calculate_status, slow_start_batch

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("count", "fail_from", "expected_batches", "expected_successes"),
    [
        (0, None, [], 0),
        (1, None, [1], 1),
        (7, None, [1, 2, 4], 7),
        (10, None, [1, 2, 4, 3], 10),
        (10, 2, [1, 2], 2),  # the third call fails: the batch of 2 ends the run
        (10, 0, [1], 0),
    ],
    ids=["none", "one", "powers", "remainder", "stops-after-failing-batch", "first-fails"],
)
async def test_slow_start_batch(
    count: int, fail_from: int | None, expected_batches: list[int], expected_successes: int
) -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        index = calls
        calls += 1
        if fail_from is not None and index >= fail_from:
            raise RuntimeError("quota")

    successes, error = await slow_start_batch(count, 1, call)
    assert calls == sum(expected_batches)  # whole batches run; none starts after a failing one
    assert successes == expected_successes
    assert (error is not None) == (fail_from is not None and fail_from < count)


def make_pod(name: str, *, ready_since: str | None = None, labels: dict[str, str] | None = None) -> Obj:
    conditions = []
    if ready_since is not None:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": ready_since})
    return {
        "metadata": {"name": name, "labels": labels or {"app": "web", "tier": "front"}},
        "status": {"phase": "Running", "conditions": conditions},
    }


def make_rs(min_ready: int = 0, status: Obj | None = None) -> Obj:
    return {
        "metadata": {"name": "web", "generation": 4},
        "spec": {
            "replicas": 3,
            "minReadySeconds": min_ready,
            "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}},
        },
        "status": status or {},
    }


NOW = 1_700_000_100.0  # 2023-11-14T22:15:00Z
LONG_AGO = "2023-11-14T22:00:00Z"
JUST_NOW = "2023-11-14T22:14:58Z"


def test_status_counts_ready_available_and_fully_labeled() -> None:
    pods = [
        make_pod("a", ready_since=LONG_AGO),
        make_pod("b", ready_since=JUST_NOW),
        make_pod("c", labels={"app": "web"}),
    ]
    status = calculate_status(make_rs(min_ready=10), pods, None, "FailedCreate", NOW)
    assert status == {
        "replicas": 3,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 1,  # b has been ready 2 s of the 10 it needs
        "observedGeneration": 4,
    }


def test_failure_condition_is_added_kept_and_removed() -> None:
    failed = calculate_status(make_rs(), [], RuntimeError("exceeded quota: q"), "FailedCreate", NOW)
    cond = failed["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "ReplicaFailure",
        "True",
        "FailedCreate",
        "exceeded quota: q",
    )
    # Failing again keeps the first condition (and its transition time).
    again = calculate_status(make_rs(status=failed), [], RuntimeError("other"), "FailedCreate", NOW)
    assert again["conditions"] == [cond]
    healed = calculate_status(make_rs(status=failed), [], None, "FailedCreate", NOW)
    assert "conditions" not in healed
