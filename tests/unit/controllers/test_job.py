"""Pure pieces of the Job controller: index bookkeeping and the pod-count arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.controllers.batchutil import finish_time, is_finished, new_condition, set_condition
from kubeling.controllers.job import (
    counts_as_failed,
    is_complete,
    job_key_of_pod,
    past_backoff_limit,
    wanted_active,
    with_index,
)
from kubeling.controllers.jobindex import format_indexes, indexes_to_create, parse_indexes, pod_index
from kubeling.controllers.jobpolicy import FailureMatch, match_pod_failure_policy, match_success_policy

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("text", "completions", "expected"),
    [
        ("", None, set()),
        ("1,3-5,7", None, {1, 3, 4, 5, 7}),
        ("0-9", 5, {0, 1, 2, 3, 4}),
        ("x,2", None, {2}),
        ("1,2", None, {1, 2}),
    ],
    ids=["empty", "mixed", "clipped", "garbage-skipped", "pair"],
)
def test_parse_indexes(text: str, completions: int | None, expected: set[int]) -> None:
    assert parse_indexes(text, completions) == expected


@pytest.mark.parametrize(
    ("indexes", "expected"),
    [(set(), ""), ({0}, "0"), ({1, 2}, "1,2"), ({0, 1, 2}, "0-2"), ({1, 3, 4, 5, 7}, "1,3-5,7")],
)
def test_format_indexes(indexes: set[int], expected: str) -> None:
    assert format_indexes(indexes) == expected
    assert parse_indexes(expected) == indexes


def test_pod_index_reads_the_annotation_and_rejects_out_of_range() -> None:
    def pod(value: str) -> Obj:
        return {"metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": value}}}

    assert pod_index(pod("2"), 3) == 2
    assert pod_index(pod("3"), 3) is None
    assert pod_index(pod("-1"), 3) is None
    assert pod_index({"metadata": {"labels": {"batch.kubernetes.io/job-completion-index": "1"}}}, 3) == 1
    assert pod_index({"metadata": {}}, 3) is None


def test_indexes_to_create_takes_the_lowest_free_ones() -> None:
    assert indexes_to_create(6, {0, 2}, {1}, 2) == [3, 4]
    assert indexes_to_create(3, {0, 1, 2}, set(), 5) == []


@pytest.mark.parametrize(
    ("spec", "succeeded", "active", "expected"),
    [
        ({"parallelism": 2, "completions": 4}, 0, 0, 2),
        ({"parallelism": 2, "completions": 4}, 3, 1, 1),
        ({"parallelism": 2, "completions": 4}, 4, 0, 0),
        ({"parallelism": 3}, 0, 0, 3),
        ({"parallelism": 3}, 1, 2, 2),  # work queue: no new pods once one succeeded
        ({"parallelism": 0, "completions": 4}, 0, 0, 0),
    ],
    ids=["start", "last-one", "done", "workqueue", "workqueue-drain", "parallelism-0"],
)
def test_wanted_active(spec: Obj, succeeded: int, active: int, expected: int) -> None:
    assert wanted_active(spec, succeeded, active) == expected


def test_is_complete() -> None:
    assert is_complete({"completions": 2}, 2, 0)
    assert not is_complete({"completions": 2}, 1, 0)
    assert is_complete({}, 1, 0)
    assert not is_complete({}, 1, 1)


def test_backoff_limit_counts_failures_and_on_failure_restarts() -> None:
    assert not past_backoff_limit({"backoffLimit": 2}, 2, [])
    assert past_backoff_limit({"backoffLimit": 2}, 3, [])
    on_failure = {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}
    restarted = {"status": {"containerStatuses": [{"restartCount": 2}]}}
    assert past_backoff_limit(on_failure, 0, [restarted])
    assert not past_backoff_limit({**on_failure, "backoffLimit": 3}, 0, [restarted])


def test_a_deleted_pod_counts_as_failed_unless_it_succeeded() -> None:
    deleting = {"deletionTimestamp": "2026-01-01T00:00:00Z"}
    assert counts_as_failed({"metadata": {}, "status": {"phase": "Failed"}})
    assert counts_as_failed({"metadata": deleting, "status": {"phase": "Running"}})
    assert not counts_as_failed({"metadata": deleting, "status": {"phase": "Succeeded"}})
    assert not counts_as_failed({"metadata": {}, "status": {"phase": "Running"}})


def test_with_index_sets_name_hostname_annotation_label_and_env() -> None:
    pod = {"metadata": {}, "spec": {"containers": [{"name": "a"}]}}
    with_index(pod, "work", 3)
    assert pod["metadata"]["generateName"] == "work-3-"
    assert pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "3"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "3"
    assert pod["spec"]["hostname"] == "work-3"
    assert pod["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"


def test_job_key_of_pod_follows_the_controller_reference() -> None:
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "w", "uid": "u", "controller": True}
    assert job_key_of_pod({"metadata": {"namespace": "ns", "ownerReferences": [ref]}}) == "ns/w"
    other = {**ref, "kind": "ReplicaSet", "apiVersion": "apps/v1"}
    assert job_key_of_pod({"metadata": {"namespace": "ns", "ownerReferences": [other]}}) is None


def test_conditions_keep_their_transition_time_while_status_holds() -> None:
    status: Obj = {}
    assert set_condition(status, new_condition("Complete", "CompletionsReached", "m", 100.0))
    assert not set_condition(status, new_condition("Complete", "CompletionsReached", "m", 200.0))
    job = {"status": status}
    assert is_finished(job) and finish_time(job) == 100.0


def test_ttl_time_left_counts_from_the_finish_condition() -> None:
    from kubeling.controllers.ttlafterfinished import time_left

    finished = {"conditions": [new_condition("Failed", "BackoffLimitExceeded", "m", 1000.0)]}
    job = {"metadata": {"name": "j"}, "spec": {"ttlSecondsAfterFinished": 30}, "status": finished}
    assert time_left(job, 1010.0) == 20.0
    assert time_left(job, 1040.0) == -10.0
    assert time_left({**job, "spec": {}}, 1040.0) is None  # no TTL
    assert time_left({**job, "status": {}}, 1040.0) is None  # not finished
    deleting = {**job, "metadata": {"name": "j", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert time_left(deleting, 1040.0) is None


def _failed_pod(code: int, *, container: str = "main", conditions: list[Obj] | None = None) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "status": {
            "phase": "Failed",
            "conditions": conditions or [],
            "containerStatuses": [{"name": container, "state": {"terminated": {"exitCode": code}}}],
        },
    }


def test_pod_failure_policy_first_matching_rule_wins() -> None:
    policy = {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
        ]
    }
    assert match_pod_failure_policy(policy, _failed_pod(42)) == FailureMatch(
        "FailJob", "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
    )
    disrupted = _failed_pod(42, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    assert match_pod_failure_policy(policy, disrupted) == FailureMatch("Ignore", None)
    assert match_pod_failure_policy(policy, _failed_pod(5)) == FailureMatch("Count", None)
    assert match_pod_failure_policy(policy, _failed_pod(1)) is None
    assert match_pod_failure_policy(None, _failed_pod(42)) is None


def test_pod_failure_policy_container_name_and_zero_exit_codes() -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "side", "operator": "NotIn", "values": [3]},
            }
        ]
    }
    assert match_pod_failure_policy(policy, _failed_pod(9)) is None  # another container
    assert match_pod_failure_policy(policy, _failed_pod(9, container="side")) is not None
    assert match_pod_failure_policy(policy, _failed_pod(0, container="side")) is None  # success never matches


@pytest.mark.parametrize(
    ("rules", "succeeded", "expected"),
    [
        ([{"succeededIndexes": "0,2"}], {0, 2}, "Matched rules at index 0"),
        ([{"succeededIndexes": "0,2"}], {0}, None),
        ([{"succeededIndexes": "0-3", "succeededCount": 2}], {1, 3}, "Matched rules at index 0"),
        ([{"succeededCount": 5}, {"succeededCount": 2}], {4, 5}, "Matched rules at index 1"),
        ([], {0, 1, 2}, None),
    ],
    ids=["all-listed", "missing-one", "count-of-listed", "second-rule", "no-rules"],
)
def test_success_policy(rules: list[Obj], succeeded: set[int], expected: str | None) -> None:
    assert match_success_policy({"rules": rules}, succeeded, 6) == expected
