from decimal import Decimal

import pytest

from kubeling.controllers.resourcequota import calculate_usage, count_target, quota_status, same_status


def _pod(name: str, cpu: str | None = None, *, phase: str = "Running", deadline: int | None = None) -> dict:
    resources = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}} if cpu else {}
    spec: dict = {"containers": [{"name": "app", "image": "busybox", "resources": resources}]}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec, "status": {"phase": phase}}


def _quota(hard: dict, **spec) -> dict:
    return {"metadata": {"name": "q", "namespace": "ns"}, "spec": {"hard": hard, **spec}}


def test_pods_and_compute_summed_terminal_pods_free_compute() -> None:
    quota = _quota({"pods": "10", "requests.cpu": "2", "limits.cpu": "2", "count/pods": "10", "secrets": "3"})
    pods = [_pod("a", "100m"), _pod("b", "250m"), _pod("done", "1", phase="Succeeded")]
    assert calculate_usage(quota, "", "pods", pods) == {
        "pods": Decimal(2),
        "requests.cpu": Decimal("0.35"),
        "limits.cpu": Decimal("0.35"),
        "count/pods": Decimal(3),
    }


def test_untracked_kind_gives_nothing_and_tracked_kind_zeros() -> None:
    quota = _quota({"pods": "10"})
    assert calculate_usage(quota, "", "configmaps", [{"metadata": {"name": "c"}}]) == {}
    assert calculate_usage(quota, "", "pods", []) == {"pods": Decimal(0)}


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (["Terminating"], 1),
        (["NotTerminating"], 2),
        (["BestEffort"], 2),
        (["NotBestEffort"], 1),
        (["NotTerminating", "BestEffort"], 1),
    ],
    ids=["terminating", "not-terminating", "best-effort", "not-best-effort", "both"],
)
def test_scopes_select_pods(scopes: list[str], expected: int) -> None:
    pods = [_pod("guaranteed", "100m"), _pod("plain"), _pod("deadline", deadline=60)]
    assert calculate_usage(_quota({"pods": "9"}, scopes=scopes), "", "pods", pods) == {
        "pods": Decimal(expected)
    }


def test_priority_class_scope_selector() -> None:
    high = _pod("high")
    high["spec"]["priorityClassName"] = "high"
    selector = {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}
    usage = calculate_usage(_quota({"pods": "9"}, scopeSelector=selector), "", "pods", [high, _pod("low")])
    assert usage == {"pods": Decimal(1)}


def test_services_counted_by_type() -> None:
    quota = _quota({"services": "5", "services.nodeports": "5", "services.loadbalancers": "1"})
    services = [
        {"metadata": {"name": "a"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}},
        {"metadata": {"name": "b"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}},
        {"metadata": {"name": "c"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    ]
    assert calculate_usage(quota, "", "services", services) == {
        "services": Decimal(3),
        "services.nodeports": Decimal(3),
        "services.loadbalancers": Decimal(1),
    }


def test_status_hard_from_spec_used_masked_and_formatted() -> None:
    quota = _quota({"pods": "4", "requests.memory": "1Gi", "count/widgets.example.com": "3"})
    quota["status"] = {
        "hard": {"pods": "2"},
        "used": {"pods": "1", "secrets": "9", "count/widgets.example.com": "2"},
    }
    status = quota_status(quota, {"pods": Decimal(3), "requests.memory": Decimal(256 * 2**20)})
    assert status == {
        "hard": {"pods": "4", "requests.memory": "1Gi", "count/widgets.example.com": "3"},
        "used": {"pods": "3", "requests.memory": "256Mi", "count/widgets.example.com": "2"},
    }


def test_same_status_compares_quantities() -> None:
    assert same_status(
        {"hard": {"cpu": "1"}, "used": {"cpu": "1000m"}}, {"hard": {"cpu": "1"}, "used": {"cpu": "1"}}
    )
    assert not same_status({"hard": {"cpu": "1"}, "used": {"cpu": "1"}}, {"hard": {"cpu": "1"}, "used": {}})


def test_count_target() -> None:
    assert count_target("count/widgets.example.com") == ("example.com", "widgets")
    assert count_target("count/pods") == ("", "pods")
    assert count_target("requests.cpu") is None
