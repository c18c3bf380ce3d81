"""``kubeling scheduler`` flags: upstream's names, Go durations, booleans with ``=``."""

from __future__ import annotations

from kubeling.cli import build_parser


def test_flags() -> None:
    args = build_parser().parse_args(
        [
            "scheduler",
            "--kubeconfig=/etc/kubernetes/scheduler.conf",
            "--leader-elect=false",
            "--leader-elect-lease-duration=20s",
            "--leader-elect-renew-deadline=15s",
            "--leader-elect-retry-period=500ms",
            "--kube-api-qps=100",
        ]
    )
    assert args.kubeconfig == "/etc/kubernetes/scheduler.conf"
    assert args.leader_elect is False
    assert (args.leader_elect_lease_duration, args.leader_elect_renew_deadline) == (20.0, 15.0)
    assert args.leader_elect_retry_period == 0.5
    assert args.kube_api_qps == 100.0
    defaults = build_parser().parse_args(["scheduler"])
    assert defaults.leader_elect is True and defaults.leader_elect_lease_duration == 15.0
    assert defaults.leader_elect_resource_name == "kube-scheduler"
