"""The Endpoints controller against a real server: addresses follow pod readiness, named ports
resolve, selectorless Services are left alone, Endpoints go with their Service."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import ENDPOINTS, NAMESPACES, PODS, SERVICES
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


async def make_pod(
    client: RESTClient, namespace: str, name: str, ip: str, *, ready: bool, named: bool
) -> None:
    ports = [{"name": "web", "containerPort": 8080}] if named else []
    body = {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "no-kubelet", "containers": [{"name": "c", "image": "nginx", "ports": ports}]},
    }
    await client.create(PODS, body, namespace=namespace)
    await set_ready(client, namespace, name, ready, ip)


async def set_ready(
    client: RESTClient, namespace: str, name: str, ready: bool, ip: str | None = None
) -> None:
    pod = await client.get(PODS, name=name, namespace=namespace)
    status = pod.get("status") or {}
    ip = ip or status["podIP"]
    flag = "True" if ready else "False"
    pod["status"] = {
        **status,
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [
            {"type": "Ready", "status": flag, "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "ContainersReady", "status": flag},
        ],
    }
    await client.update(PODS, pod, namespace=namespace, subresource="status")


def ips(endpoints: Obj, field: str) -> list[str]:
    return [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get(field) or []]


async def test_endpoints_follow_pods(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    namespace = f"ep-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    try:
        async with controllers_running(bare_server, ["endpoints-controller"]) as manager:
            controller = manager.controllers["endpoints-controller"]
            manual = {"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 5432}]}}
            await client.create(SERVICES, manual, namespace=namespace)
            hand_made = {
                "metadata": {"name": "manual"},
                "subsets": [{"addresses": [{"ip": "192.0.2.7"}], "ports": [{"port": 5432}]}],
            }
            await client.create(ENDPOINTS, hand_made, namespace=namespace)
            web = {
                "metadata": {"name": "web", "labels": {"tier": "front"}},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "web"}],
                },
            }
            await client.create(SERVICES, web, namespace=namespace)
            await make_pod(client, namespace, "a", "10.1.0.1", ready=True, named=True)
            await make_pod(client, namespace, "b", "10.1.0.2", ready=False, named=True)
            await make_pod(client, namespace, "c", "10.1.0.3", ready=True, named=False)  # no port "web"

            async def endpoints_are(ready: list[str], not_ready: list[str]) -> Obj | None:
                try:
                    current = await client.get(ENDPOINTS, name="web", namespace=namespace)
                except StatusError:
                    return None
                shape = (ips(current, "addresses"), ips(current, "notReadyAddresses"))
                return current if shape == (ready, not_ready) else None

            current = await eventually(lambda: endpoints_are(["10.1.0.1"], ["10.1.0.2"]), timeout=30)
            (subset,) = current["subsets"]
            assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
            address = subset["addresses"][0]
            assert address["nodeName"] == "no-kubelet"
            assert address["targetRef"]["kind"] == "Pod" and address["targetRef"]["name"] == "a"
            assert current["metadata"]["labels"] == {"tier": "front"}
            assert "endpoints.kubernetes.io/last-change-trigger-time" in current["metadata"]["annotations"]
            # The hand-made Endpoints of the selectorless Service are untouched.
            kept = await client.get(ENDPOINTS, name="manual", namespace=namespace)
            assert ips(kept, "addresses") == ["192.0.2.7"]

            await set_ready(client, namespace, "b", True)
            await eventually(lambda: endpoints_are(["10.1.0.1", "10.1.0.2"], []), timeout=30)
            # A terminating pod leaves (it has a node, so deletion is graceful and it stays a while).
            await client.delete(PODS, name="a", namespace=namespace)
            current = await eventually(lambda: endpoints_are(["10.1.0.2"], []), timeout=30)
            # Deleted by hand while the Service exists: it comes back.
            await client.delete(ENDPOINTS, name="web", namespace=namespace)
            again = await eventually(lambda: endpoints_are(["10.1.0.2"], []), timeout=30)
            assert again["metadata"]["uid"] != current["metadata"]["uid"]
            # A sync that changes nothing writes nothing.
            await client.patch(
                PODS, {"metadata": {"annotations": {"touch": "1"}}}, name="c", namespace=namespace
            )

            async def synced() -> bool:
                cached = controller.pods.store.get_by(name="c", namespace=namespace)  # type: ignore[attr-defined]
                annotated = cached is not None and "touch" in (cached["metadata"].get("annotations") or {})
                queue = controller.queue  # type: ignore[attr-defined]
                return annotated and queue.is_idle()

            await eventually(synced, timeout=30)
            unchanged = await client.get(ENDPOINTS, name="web", namespace=namespace)
            assert unchanged["metadata"]["resourceVersion"] == again["metadata"]["resourceVersion"]
            # The Service goes, its Endpoints go.
            await client.delete(SERVICES, name="web", namespace=namespace)

            async def gone() -> bool:
                try:
                    await client.get(ENDPOINTS, name="web", namespace=namespace)
                except StatusError as exc:
                    return exc.code == 404
                return False

            await eventually(gone, timeout=30)
    finally:
        for name in ("a", "b", "c"):
            with contextlib.suppress(StatusError):
                await client.delete(PODS, name=name, namespace=namespace, grace_period_seconds=0)
        with contextlib.suppress(StatusError):
            await client.delete(NAMESPACES, name=namespace)
        await client.close()
