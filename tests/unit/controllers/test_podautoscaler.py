import pytest

from kubeling.controllers.podautoscaler import (
    MetricError,
    PodMetric,
    Recommendation,
    ScaleEvent,
    average_value_replicas,
    group_pods,
    limit_legacy,
    limit_with_behavior,
    pod_requests,
    record_scale_event,
    scale_down_limit,
    scale_up_limit,
    set_condition,
    stabilize_legacy,
    stabilize_with_behavior,
    utilization_replicas,
)

NOW = 1_800_000_000.0
LONG_AGO = "2020-01-01T00:00:00Z"


def _pod(
    name: str, cpu: str = "100m", *, phase: str = "Running", ready: str = "True", started: str = LONG_AGO
) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]},
        "status": {
            "phase": phase,
            "startTime": started,
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": LONG_AGO}],
        },
    }


def _metrics(**values: int) -> dict[str, PodMetric]:
    return {name: PodMetric(value, NOW - 10, 30.0) for name, value in values.items()}


def _replicas(current: int, target: int, pods: list[dict], metrics: dict[str, PodMetric]) -> int:
    return utilization_replicas(current, target, pods, metrics, "cpu", NOW)[0]


def test_scale_up_on_high_utilization() -> None:
    pods = [_pod("a"), _pod("b")]
    assert utilization_replicas(2, 50, pods, _metrics(a=100, b=100), "cpu", NOW) == (4, 100, 100)


def test_scale_down_on_low_utilization() -> None:
    pods = [_pod(n) for n in "abcd"]
    assert _replicas(4, 50, pods, _metrics(a=10, b=10, c=10, d=10)) == 1


@pytest.mark.parametrize(
    ("usage", "expected"), [(54, 2), (46, 2), (56, 3), (44, 2)], ids=["+8%", "-8%", "+12%", "-12%"]
)
def test_tolerance_of_ten_percent(usage: int, expected: int) -> None:
    # 44% of 50 → ratio 0.88 → ceil(0.88 * 2) = 2; 56% → ceil(1.12 * 2) = 3.
    assert _replicas(2, 50, [_pod("a"), _pod("b")], _metrics(a=usage, b=usage)) == expected


def test_missing_metrics_count_as_full_on_scale_down() -> None:
    pods = [_pod("a"), _pod("b"), _pod("c")]
    # a and b idle at 10%; c silent counts as 100% → ratio (10+10+100)/3/50 = 0.8 → ceil(2.4) = 3 → no change
    assert _replicas(3, 50, pods, _metrics(a=10, b=10)) == 3
    # at very low use the decision still goes down, but less far
    assert _replicas(4, 50, [*pods, _pod("d")], _metrics(a=0, b=0, c=0)) == 2


def test_missing_metrics_count_as_zero_on_scale_up() -> None:
    pods = [_pod("a"), _pod("b")]
    # a at 200% alone would ask for 4; with b as 0%, average 100% of 50 → ceil(2 * 2) = 4
    assert _replicas(2, 50, pods, _metrics(a=200)) == 4
    # b's 0% pulls ratio 1.2 → 0.6: the direction flips, so nothing changes
    assert _replicas(2, 50, pods, _metrics(a=60)) == 2


def test_unready_pods_count_as_zero_on_scale_up() -> None:
    pods = [_pod("a"), _pod("b", phase="Pending")]
    # b pending: ready-only ratio 2.0 → with b at 0 the average is 1.0 → within tolerance: no change
    assert _replicas(2, 50, pods, _metrics(a=100, b=500)) == 2
    # a at 600% of target: with b as 0% the ratio is 3.0 → ceil(3.0 * 2) = 6
    assert _replicas(2, 50, pods, _metrics(a=300)) == 6


def test_ignored_pods_dropped() -> None:
    deleting = _pod("gone")
    deleting["metadata"]["deletionTimestamp"] = LONG_AGO
    pods = [_pod("a"), deleting, _pod("failed", phase="Failed")]
    assert _replicas(3, 50, pods, _metrics(a=100, gone=1000, failed=1000)) == 2


def test_young_cpu_pod_without_sample_after_ready_is_unready() -> None:
    young = _pod("y", started=_iso(NOW - 60))
    young["status"]["conditions"][0]["lastTransitionTime"] = _iso(NOW - 20)
    groups = group_pods([young, _pod("a")], _metrics(y=100, a=100), "cpu", NOW)
    assert groups.unready == {"y"} and groups.ready == 1
    assert group_pods([young], _metrics(y=100), "memory", NOW).ready == 1


def _iso(moment: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_errors_read_like_upstream() -> None:
    with pytest.raises(MetricError, match="no pods returned by selector while calculating replica count"):
        utilization_replicas(1, 50, [], {}, "cpu", NOW)
    with pytest.raises(
        MetricError, match=r"did not receive metrics for targeted pods \(pods might be unready\)"
    ):
        utilization_replicas(1, 50, [_pod("a")], {}, "cpu", NOW)
    no_request = _pod("a")
    no_request["spec"]["containers"][0]["resources"] = {}
    with pytest.raises(MetricError, match="missing request for cpu in container app of Pod a"):
        pod_requests([no_request], "cpu")


def test_average_value() -> None:
    pods = [_pod("a"), _pod("b")]
    assert average_value_replicas(2, 100, pods, _metrics(a=300, b=300), "cpu", NOW) == (6, 300)
    assert average_value_replicas(2, 100, pods, _metrics(a=105, b=100), "cpu", NOW) == (2, 102)
    assert average_value_replicas(4, 1000, pods, _metrics(a=100, b=100), "memory", NOW) == (1, 100)


def test_legacy_stabilization_keeps_the_highest_recent() -> None:
    history: list[Recommendation] = []
    assert stabilize_legacy(history, 5, NOW - 400, 300) == 5
    assert stabilize_legacy(history, 4, NOW - 100, 300) == 4  # the 5 is out of the window
    assert stabilize_legacy(history, 2, NOW, 300) == 4
    assert [r.replicas for r in history] == [4, 2]


def test_legacy_limits() -> None:
    assert limit_legacy(2, 10, 1, 20) == (
        4,
        "ScaleUpLimit",
        "the desired replica count is increasing faster than the maximum scale rate",
    )
    assert limit_legacy(10, 30, 1, 15)[:2] == (15, "TooManyReplicas")
    assert limit_legacy(3, 0, 2, 10)[:2] == (2, "TooFewReplicas")
    assert limit_legacy(3, 5, 1, 10) == (
        5,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )


def test_behavior_stabilization_windows() -> None:
    history = [Recommendation(8, NOW - 100), Recommendation(3, NOW - 10)]
    # scale-down window 300 s: the 8 holds the count at 8 even though 2 is proposed
    assert stabilize_with_behavior(list(history), 8, 2, NOW, 0, 300)[:2] == (8, "ScaleDownStabilized")
    # scale-up window 60 s: the recent 3 caps a jump to 10
    assert stabilize_with_behavior(list(history), 2, 10, NOW, 60, 0)[:2] == (3, "ScaleUpStabilized")
    assert stabilize_with_behavior([], 2, 10, NOW, 0, 300)[0] == 10


def test_policies_pods_and_percent() -> None:
    pods4 = {"type": "Pods", "value": 4, "periodSeconds": 15}
    up = {"selectPolicy": "Max", "policies": [pods4, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert scale_up_limit(10, [], [], up, NOW) == 20
    assert scale_up_limit(2, [], [], up, NOW) == 6
    assert scale_up_limit(10, [], [], {**up, "selectPolicy": "Min"}, NOW) == 14
    assert scale_up_limit(10, [], [], {**up, "selectPolicy": "Disabled"}, NOW) == 10
    # 6 added within the period: the period started at 4
    assert scale_up_limit(10, [ScaleEvent(6, NOW - 5)], [], up, NOW) == 8
    half = {"type": "Percent", "value": 50, "periodSeconds": 60}
    down = {"selectPolicy": "Max", "policies": [half, {"type": "Pods", "value": 1, "periodSeconds": 60}]}
    assert scale_down_limit(10, [], [], down, NOW) == 5
    assert scale_down_limit(10, [], [], {**down, "selectPolicy": "Min"}, NOW) == 9


def test_behavior_limits_and_reasons() -> None:
    behavior = {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    assert limit_with_behavior(5, 1, 1, 10, behavior, [], [], NOW) == (
        4,
        "ScaleDownLimit",
        "the desired replica count is decreasing faster than the maximum scale rate",
    )
    assert limit_with_behavior(5, 30, 1, 20, {}, [], [], NOW)[:2] == (10, "ScaleUpLimit")
    assert limit_with_behavior(5, 8, 1, 6, {}, [], [], NOW)[:2] == (6, "TooManyReplicas")
    assert limit_with_behavior(5, 0, 2, 10, {}, [], [], NOW)[:2] == (2, "TooFewReplicas")


def test_scale_events_recorded_only_with_behavior() -> None:
    ups: list[ScaleEvent] = []
    downs: list[ScaleEvent] = []
    record_scale_event(None, ups, downs, 1, 5, NOW)
    assert ups == []
    record_scale_event({}, ups, downs, 1, 5, NOW - 100)
    record_scale_event({}, ups, downs, 5, 7, NOW)
    assert [(e.change, e.at) for e in ups] == [(2, NOW)]  # the first is older than the 15 s policy period


def test_condition_transition_time_kept_when_status_unchanged() -> None:
    status: dict = {}
    set_condition(status, "AbleToScale", "True", "A", "a", NOW - 100)
    set_condition(status, "AbleToScale", "True", "B", "b", NOW)
    (cond,) = status["conditions"]
    assert (cond["reason"], cond["lastTransitionTime"]) == ("B", _iso(NOW - 100))
    set_condition(status, "AbleToScale", "False", "C", "c", NOW)
    assert status["conditions"][0]["lastTransitionTime"] == _iso(NOW)
