"""resourcequota-controller against a real server: usage recalculated, quota given back."""

from __future__ import annotations

import uuid

import pytest

from kubeling.api.errors import StatusError
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import CONFIGMAPS, NAMESPACES, PODS, RESOURCEQUOTAS
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


def _pod(name: str, cpu: str = "100m") -> dict:
    resources = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "a", "image": "x", "resources": resources}]},
    }


async def test_usage_counts_existing_objects_and_is_given_back(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    ns = f"rq-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    options = ControllerOptions(resource_quota_sync_period=60.0)
    try:
        async with controllers_running(bare_server, ["resourcequota-controller"], options):
            # Objects from before the quota count.
            for name in ("a", "b"):
                await client.create(PODS, _pod(name), namespace=ns)
            await client.create(CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {}}, namespace=ns)
            hard = {"pods": "2", "requests.cpu": "1", "configmaps": "5", "count/deployments.apps": "1"}
            await client.create(
                RESOURCEQUOTAS, {"metadata": {"name": "q"}, "spec": {"hard": hard}}, namespace=ns
            )

            async def used(expected: dict) -> dict | None:
                quota = await client.get(RESOURCEQUOTAS, name="q", namespace=ns)
                status = quota.get("status") or {}
                return status if status.get("used") == expected else None

            status = await eventually(
                lambda: used(
                    {"pods": "2", "requests.cpu": "200m", "configmaps": "1", "count/deployments.apps": "0"}
                ),
                timeout=30,
            )
            assert status["hard"] == hard
            with pytest.raises(StatusError) as err:
                await client.create(PODS, _pod("c"), namespace=ns)
            assert err.value.code == 403 and "exceeded quota: q" in err.value.message

            # A deleted pod gives its share back, so the next one is admitted.
            await client.delete(PODS, name="a", namespace=ns, grace_period_seconds=0)
            await eventually(
                lambda: used(
                    {"pods": "1", "requests.cpu": "100m", "configmaps": "1", "count/deployments.apps": "0"}
                ),
                timeout=30,
            )
            await client.create(PODS, _pod("c"), namespace=ns)

            # A pod that finished no longer holds quota.
            pod = await client.get(PODS, name="b", namespace=ns)
            pod["status"] = {"phase": "Succeeded"}
            await client.update(PODS, pod, namespace=ns, subresource="status")
            await eventually(
                lambda: used(
                    {"pods": "1", "requests.cpu": "100m", "configmaps": "1", "count/deployments.apps": "0"}
                ),
                timeout=30,
            )
            await client.create(PODS, _pod("d"), namespace=ns)
    finally:
        await client.delete(NAMESPACES, name=ns)
        await client.close()
