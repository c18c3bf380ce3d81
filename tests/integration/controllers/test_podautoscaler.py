"""horizontal-pod-autoscaler-controller against a real server without a metrics API."""

from __future__ import annotations

import uuid

import pytest

from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import DEPLOYMENTS, EVENTS, HORIZONTALPODAUTOSCALERS, NAMESPACES
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


def _deployment(replicas: int) -> dict:
    labels = {"app": "web"}
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "app", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]
                },
            },
        },
    }


def _hpa(min_replicas: int) -> dict:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min_replicas,
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        },
    }


def _conditions(hpa: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in (hpa.get("status") or {}).get("conditions") or []}


async def test_no_metrics_api_then_min_replicas(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    ns = f"hpa-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    options = ControllerOptions(extra={"horizontal_pod_autoscaler_sync_period": 1.0})
    try:
        async with controllers_running(bare_server, ["horizontal-pod-autoscaler-controller"], options):
            await client.create(DEPLOYMENTS, _deployment(2), namespace=ns)
            await client.create(HORIZONTALPODAUTOSCALERS, _hpa(1), namespace=ns)

            async def metrics_failed() -> dict | None:
                hpa = await client.get(HORIZONTALPODAUTOSCALERS, name="web", namespace=ns)
                conditions = _conditions(hpa)
                wanted = conditions.get("ScalingActive") == ("False", "FailedGetResourceMetric")
                return hpa if wanted else None

            hpa = await eventually(metrics_failed, timeout=30)
            assert _conditions(hpa)["AbleToScale"] == ("True", "SucceededGetScale")
            active = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingActive")
            assert active["message"].startswith(
                "the HPA was unable to compute the replica count: failed to get cpu resource metric value: "
                "failed to get cpu utilization: unable to get metrics for resource cpu: "
                "unable to fetch metrics from resource metrics API:"
            )
            assert hpa["status"]["currentReplicas"] == 0  # no deployment controller: nothing created yet
            assert "lastScaleTime" not in hpa["status"]

            async def event(reason: str) -> dict | None:
                events = (await client.list(EVENTS, namespace=ns))["items"]
                return next((e for e in events if e["reason"] == reason), None)

            failed = await eventually(lambda: event("FailedGetResourceMetric"), timeout=30)
            assert (
                failed["type"] == "Warning" and failed["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
            )
            await eventually(lambda: event("FailedComputeMetricsReplicas"), timeout=30)
            deployment = await client.get(DEPLOYMENTS, name="web", namespace=ns)
            assert deployment["spec"]["replicas"] == 2

            # Below minReplicas the target is raised to it, metrics or not.
            hpa = await client.get(HORIZONTALPODAUTOSCALERS, name="web", namespace=ns)
            hpa["spec"]["minReplicas"] = 4
            await client.update(HORIZONTALPODAUTOSCALERS, hpa, namespace=ns)

            async def scaled() -> dict | None:
                got = await client.get(DEPLOYMENTS, name="web", namespace=ns)
                return got if got["spec"]["replicas"] == 4 else None

            await eventually(scaled, timeout=30)
            rescale = await eventually(lambda: event("SuccessfulRescale"), timeout=30)
            assert (
                rescale["message"] == "New size: 4; reason: Current number of replicas below Spec.MinReplicas"
            )

            async def status_written() -> dict | None:
                got = await client.get(HORIZONTALPODAUTOSCALERS, name="web", namespace=ns)
                return (
                    got
                    if got["status"].get("desiredReplicas") == 4 and got["status"].get("lastScaleTime")
                    else None
                )

            hpa = await eventually(status_written, timeout=30)
            assert _conditions(hpa)["AbleToScale"] == ("True", "SucceededRescale")
    finally:
        await client.delete(NAMESPACES, name=ns)
        await client.close()
