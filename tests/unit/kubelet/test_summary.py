"""/metrics/resource from a Summary: the samples metrics-server parses."""

from __future__ import annotations

from kubeling.kubelet.summary import resource_metrics_text, running_containers

NOW = "2026-01-01T00:00:00Z"


def test_resource_metrics_from_a_summary() -> None:
    summary = {
        "node": {"cpu": {"usageCoreNanoSeconds": 2_500_000_000}, "memory": {"workingSetBytes": 1024}},
        "pods": [
            {
                "podRef": {"name": "web", "namespace": "default", "uid": "u"},
                "cpu": {"usageCoreNanoSeconds": 1_000_000_000},
                "memory": {"workingSetBytes": 300},
                "containers": [
                    {
                        "name": "main",
                        "startTime": NOW,
                        "cpu": {"usageCoreNanoSeconds": 1_000_000_000},
                        "memory": {"workingSetBytes": 300},
                    }
                ],
            }
        ],
    }
    samples = [
        line.split(" ") for line in resource_metrics_text(summary).splitlines() if not line.startswith("#")
    ]
    values = {sample[0]: sample[1] for sample in samples}  # name{labels} value [timestamp]
    labels = 'container="main",namespace="default",pod="web"'
    assert values["node_cpu_usage_seconds_total"] == "2.500000000"
    assert values["node_memory_working_set_bytes"] == "1024"
    assert values[f"container_memory_working_set_bytes{{{labels}}}"] == "300"
    assert values[f"container_cpu_usage_seconds_total{{{labels}}}"] == "1.000000000"
    assert values[f"container_start_time_seconds{{{labels}}}"] == "1767225600.000000000"
    assert values['pod_memory_working_set_bytes{namespace="default",pod="web"}'] == "300"
    assert values["scrape_error"] == "0"


def test_running_containers_come_from_container_statuses() -> None:
    pod = {
        "status": {
            "containerStatuses": [
                {"name": "a", "containerID": "docker://abc", "state": {"running": {"startedAt": NOW}}},
                {"name": "b", "containerID": "docker://def", "state": {"terminated": {"exitCode": 0}}},
                {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}},
            ]
        }
    }
    assert [(c.name, c.id, c.started) for c in running_containers(pod)] == [("a", "abc", NOW)]
