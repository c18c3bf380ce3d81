"""The EndpointSlice controller against a real server: slices per Service that split at the maximum,
follow pod readiness and termination, carry zones and ports, and go with their Service."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import ENDPOINTSLICES, NAMESPACES, NODES, PODS, SERVICES
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer
from tests.integration.controllers.test_endpoints import set_ready

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


async def make_pod(client: RESTClient, namespace: str, name: str, ip: str, node: str, *, ready: bool) -> None:
    body = {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "nodeName": node,
            "hostname": name,
            "subdomain": "db",
            "containers": [
                {"name": "c", "image": "nginx", "ports": [{"name": "web", "containerPort": 8080}]}
            ],
        },
    }
    await client.create(PODS, body, namespace=namespace)
    await set_ready(client, namespace, name, ready, ip)


async def slices_of(client: RESTClient, namespace: str, service: str) -> list[Obj]:
    selector = f"kubernetes.io/service-name={service}"
    return (await client.list(ENDPOINTSLICES, namespace=namespace, label_selector=selector))["items"]


def endpoints_by_ip(slices: list[Obj]) -> dict[str, Obj]:
    found: dict[str, Obj] = {}
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            assert endpoint["addresses"][0] not in found, "an endpoint in two slices"
            found[endpoint["addresses"][0]] = endpoint
    return found


async def test_slices_follow_pods(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    namespace, node = f"eps-{suffix}", f"eps-node-{suffix}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    labels = {"topology.kubernetes.io/zone": "zone-a"}
    await client.create(NODES, {"metadata": {"name": node, "labels": labels}})
    options = ControllerOptions(max_endpoints_per_slice=2)
    try:
        async with controllers_running(bare_server, ["endpointslice-controller"], options) as manager:
            controller = manager.controllers["endpointslice-controller"]
            port = {"name": "http", "port": 80, "targetPort": "web", "appProtocol": "http"}
            web = {
                "metadata": {"name": "web", "labels": {"team": "a"}},
                "spec": {"selector": {"app": "web"}, "ports": [port]},
            }
            service = await client.create(SERVICES, web, namespace=namespace)
            headless = {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "web"}}}
            await client.create(SERVICES, headless, namespace=namespace)
            for i, name in enumerate(["a", "b", "c"]):
                await make_pod(client, namespace, name, f"10.2.0.{i + 1}", node, ready=name != "b")

            async def web_slices(expected: dict[str, tuple[bool, bool, bool]]) -> list[Obj] | None:
                slices = await slices_of(client, namespace, "web")
                found = endpoints_by_ip(slices)
                shape = {
                    ip: (e["conditions"]["ready"], e["conditions"]["serving"], e["conditions"]["terminating"])
                    for ip, e in found.items()
                }
                return slices if shape == expected else None

            ready, not_ready = (True, True, False), (False, False, False)
            slices = await eventually(
                lambda: web_slices({"10.2.0.1": ready, "10.2.0.2": not_ready, "10.2.0.3": ready}), timeout=30
            )
            assert sorted(len(s["endpoints"]) for s in slices) == [1, 2]  # split at the maximum of 2
            for endpoint_slice in slices:
                meta = endpoint_slice["metadata"]
                assert meta["name"].startswith("web-") and meta["generateName"] == "web-"
                assert meta["labels"] == {
                    "team": "a",
                    "kubernetes.io/service-name": "web",
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                }
                (owner,) = meta["ownerReferences"]
                assert (owner["kind"], owner["uid"], owner["controller"]) == (
                    "Service",
                    service["metadata"]["uid"],
                    True,
                )
                assert endpoint_slice["addressType"] == "IPv4"
                assert endpoint_slice["ports"] == [
                    {"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}
                ]
            first = endpoints_by_ip(slices)["10.2.0.1"]
            assert (first["nodeName"], first["zone"], first["targetRef"]["name"]) == (node, "zone-a", "a")
            assert "hostname" not in first  # subdomain "db" names the other Service
            # The headless Service without ports: slices without ports, hostnames published.
            db = await eventually(lambda: _with_endpoints(client, namespace, "db", 3), timeout=30)
            assert all(not s.get("ports") for s in db)
            assert all(s["metadata"]["labels"]["service.kubernetes.io/headless"] == "" for s in db)
            assert sorted(e["hostname"] for e in endpoints_by_ip(db).values()) == ["a", "b", "c"]

            await set_ready(client, namespace, "b", True)
            await client.delete(PODS, name="a", namespace=namespace)  # graceful: it stays, terminating
            slices = await eventually(
                lambda: web_slices({"10.2.0.1": (False, True, True), "10.2.0.2": ready, "10.2.0.3": ready}),
                timeout=30,
            )
            # Nothing moved between slices: updates in place.
            before = {s["metadata"]["name"] for s in slices}
            await client.delete(PODS, name="a", namespace=namespace, grace_period_seconds=0)
            slices = await eventually(lambda: web_slices({"10.2.0.2": ready, "10.2.0.3": ready}), timeout=30)
            assert {s["metadata"]["name"] for s in slices} <= before

            # A sync that changes nothing writes nothing.
            versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices}
            await client.patch(
                PODS, {"metadata": {"annotations": {"touch": "1"}}}, name="c", namespace=namespace
            )

            async def synced() -> bool:
                cached = controller.pods.store.get_by(name="c", namespace=namespace)  # type: ignore[attr-defined]
                queue = controller.queue  # type: ignore[attr-defined]
                annotated = cached is not None and "touch" in (cached["metadata"].get("annotations") or {})
                return annotated and queue.is_idle()

            await eventually(synced, timeout=30)
            now = {
                s["metadata"]["name"]: s["metadata"]["resourceVersion"]
                for s in await slices_of(client, namespace, "web")
            }
            assert now == versions

            await client.delete(SERVICES, name="web", namespace=namespace)

            async def gone() -> bool:
                return not await slices_of(client, namespace, "web")

            await eventually(gone, timeout=30)
    finally:
        for name in ("a", "b", "c"):
            with contextlib.suppress(StatusError):
                await client.delete(PODS, name=name, namespace=namespace, grace_period_seconds=0)
        with contextlib.suppress(StatusError):
            await client.delete(NODES, name=node)
        with contextlib.suppress(StatusError):
            await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def _with_endpoints(client: RESTClient, namespace: str, service: str, count: int) -> list[Obj] | None:
    slices = await slices_of(client, namespace, service)
    return slices if sum(len(s.get("endpoints") or []) for s in slices) == count else None
