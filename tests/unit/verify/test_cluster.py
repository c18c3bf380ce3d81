from __future__ import annotations

import pytest

from kubeling.verify import cluster
from tests.unit.verify.conftest import make_target


def _node(name: str, ip: str, ready: str = "True", reason: str = "KubeletReady") -> dict:
    return {
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": ""}],
        },
    }


TARGETS = [make_target("cp1", node_ip="10.0.0.1"), make_target("w1", node_ip="10.0.0.2")]


def test_nodes_ready_matches_by_name_or_ip() -> None:
    result = cluster.check_nodes([_node("cp1", "10.0.0.1"), _node("lab-w1", "10.0.0.2")], TARGETS)
    assert result.ok and result.detail == "2 node(s) Ready"


def test_not_ready_and_missing_nodes_are_named() -> None:
    result = cluster.check_nodes([_node("cp1", "10.0.0.1", "Unknown", "NodeStatusUnknown")], TARGETS)
    assert not result.ok
    assert result.detail == "cp1: not Ready (NodeStatusUnknown); w1: no Node registered"


def _pod(name: str, phase: str, ready: str = "True", waiting: str | None = None) -> dict:
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": name}, "status": status}


@pytest.mark.parametrize(
    ("pods", "detail"),
    [
        ([_pod("dns-1", "Running"), _pod("job-1", "Succeeded", "False")], None),
        ([_pod("dns-1", "Pending", "False")], "dns-1: Pending"),
        (
            [_pod("proxy-1", "Running", "False", "CrashLoopBackOff")],
            "proxy-1: Running, not Ready (CrashLoopBackOff)",
        ),
        ([], "no pods in kube-system"),
    ],
    ids=["healthy", "pending", "crashlooping", "none"],
)
def test_system_pods(pods: list[dict], detail: str | None) -> None:
    result = cluster.check_system_pods(pods)
    assert result.ok is (detail is None)
    if detail:
        assert result.detail == detail


def test_retry_script_gives_up_with_a_message() -> None:
    argv = cluster.retry_script("false", tries=3, failure="no luck: it's over", show="cat /tmp/x")
    assert argv[:2] == ["sh", "-c"]
    assert argv[2].endswith("echo 'no luck: it'\"'\"'s over'; cat /tmp/x; exit 1")
