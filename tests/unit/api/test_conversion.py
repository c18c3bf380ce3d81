import pytest

from kubeling.api.conversion import hpa_v1_to_v2, hpa_v2_to_v1

CPU_60 = {"type": "Utilization", "averageUtilization": 60}
MEMORY_1GI = {"type": "AverageValue", "averageValue": "1Gi"}
V2 = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
            },
            {
                "type": "Resource",
                "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
            },
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
    },
    "status": {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75}}}
        ],
        "conditions": [{"type": "AbleToScale", "status": "True"}],
    },
}


def test_v2_to_v1_keeps_cpu_fields_and_stashes_the_rest():
    v1 = hpa_v2_to_v1(V2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60 and "metrics" not in v1["spec"]
    assert v1["status"]["currentCPUUtilizationPercentage"] == 75
    annotations = v1["metadata"]["annotations"]
    assert "memory" in annotations["autoscaling.alpha.kubernetes.io/metrics"]
    assert "stabilizationWindowSeconds" in annotations["autoscaling.alpha.kubernetes.io/behavior"]


def test_round_trip_through_v1_is_lossless():
    assert hpa_v1_to_v2(hpa_v2_to_v1(V2)) == V2


@pytest.mark.parametrize("target", [None, 50], ids=["no-cpu-target", "cpu-target"])
def test_plain_v1_objects_convert(target):
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "x"},
        "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "x"}},
    }
    if target is not None:
        v1["spec"]["targetCPUUtilizationPercentage"] = target
    v2 = hpa_v1_to_v2(v1)
    assert v2["apiVersion"] == "autoscaling/v2" and "annotations" not in v2["metadata"]
    assert ("metrics" in v2["spec"]) == (target is not None)
    assert hpa_v2_to_v1(v2) == v1


def test_events_round_trip_between_core_and_events_api():
    from kubeling.api.conversion import event_core_to_events, event_events_to_core

    core = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Started",
        "message": "Started container web",
        "type": "Normal",
        "count": 3,
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:01:00Z",
        "reportingComponent": "kubelet",
        "reportingInstance": "n1",
    }
    new = event_core_to_events(core)
    assert new["regarding"]["name"] == "web" and new["note"] == "Started container web"
    assert new["deprecatedCount"] == 3 and new["reportingController"] == "kubelet"
    assert event_events_to_core(new) == core
