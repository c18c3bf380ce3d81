"""A hollow node against a real server: Node, Lease and pod lifecycle without containers."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import pytest

from kubeling.api import errors
from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet.hollow import EXIT_CODE_ANNOTATION, LEASES, NODES, PODS, HollowNode, HollowNodeConfig

pytestmark = pytest.mark.integration


async def eventually(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def pod(name: str, node: str, annotations: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }


async def test_hollow_node_runs_and_finishes_pods(server) -> None:
    client = RESTClient(load_config(str(server.kubeconfig)), component="test")
    node = HollowNode(client, HollowNodeConfig(name="hollow-a", pod_cidr="10.244.7.0/24", renew_interval=0.3))
    runner = asyncio.create_task(node.run())
    try:

        async def ready() -> dict | None:
            with contextlib.suppress(errors.StatusError):
                got = await client.get(NODES, name="hollow-a")
                conditions = {c["type"]: c["status"] for c in got.get("status", {}).get("conditions", [])}
                return got if conditions.get("Ready") == "True" else None
            return None

        registered = await eventually(ready)
        assert registered["status"]["capacity"]["pods"] == "110"
        assert registered["metadata"]["labels"]["kubernetes.io/hostname"] == "hollow-a"

        async def lease() -> dict | None:
            # The Lease comes after the Node's registration, not with it.
            with contextlib.suppress(errors.StatusError):
                return await client.get(LEASES, namespace="kube-node-lease", name="hollow-a")
            return None

        first = await eventually(lease)

        async def renewed() -> bool:
            lease = await client.get(LEASES, namespace="kube-node-lease", name="hollow-a")
            return lease["spec"]["renewTime"] != first["spec"]["renewTime"]

        await eventually(renewed)

        await client.create(PODS, pod("runner", "hollow-a"), namespace="default")
        await client.create(
            PODS, pod("job-like", "hollow-a", {EXIT_CODE_ANNOTATION: "0"}), namespace="default"
        )

        async def phase(name: str, wanted: str) -> dict | None:
            got = await client.get(PODS, namespace="default", name=name)
            return got if got.get("status", {}).get("phase") == wanted else None

        running = await eventually(lambda: phase("runner", "Running"))
        assert ipaddress.ip_address(running["status"]["podIP"]) in ipaddress.ip_network("10.244.7.0/24")
        assert {c["type"]: c["status"] for c in running["status"]["conditions"]}["Ready"] == "True"
        done = await eventually(lambda: phase("job-like", "Succeeded"))
        assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0

        # A graceful delete leaves the pod Terminating until its node confirms it.
        await client.delete(PODS, namespace="default", name="runner")

        async def gone() -> bool:
            try:
                await client.get(PODS, namespace="default", name="runner")
            except errors.StatusError as exc:
                return exc.code == 404
            return False

        await eventually(gone)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await client.close()
