from __future__ import annotations

from kubeling.verify.report import exit_status, failed, format_results, passed, summary


def test_lines_are_aligned_and_failures_say_why() -> None:
    results = [
        passed("cp1", "unit kubelet"),
        failed("worker-1", "unit kubelet", "systemctl is-active says inactive"),
        passed("cluster", "dns", "kubernetes.default.svc.cluster.local -> 10.96.0.1"),
    ]
    assert format_results(results) == [
        "cp1       unit kubelet  ok",
        "worker-1  unit kubelet  FAILED: systemctl is-active says inactive",
        "cluster   dns           ok (kubernetes.default.svc.cluster.local -> 10.96.0.1)",
    ]
    assert exit_status(results) == 1
    assert summary(results) == "1 of 3 checks FAILED: worker-1 unit kubelet"


def test_all_passed() -> None:
    results = [passed("cp1", "port 6443")]
    assert exit_status(results) == 0
    assert summary(results) == "all 1 checks passed"
