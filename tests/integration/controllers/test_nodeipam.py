"""Node IPAM against a real server: pod CIDRs handed out once, existing ones respected, exhaustion."""

from __future__ import annotations

import ipaddress
import uuid

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.resources import EVENTS, NODES
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

CLUSTER = "10.250.0.0/22"  # four /24s, private to this test


def node_body(name: str, cidr: str | None = None) -> dict[str, object]:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


async def cidrs_of(client: RESTClient, name: str) -> list[str]:
    node = await client.get(NODES, name=name)
    return list(node["spec"].get("podCIDRs") or [])


async def test_nodes_get_distinct_cidrs_until_the_range_is_full(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    suffix = uuid.uuid4().hex[:6]
    preset = f"ipam-preset-{suffix}"
    names = [f"ipam-{i}-{suffix}" for i in range(4)]
    options = ControllerOptions(
        cluster_cidr=CLUSTER, node_cidr_mask_size=24, extra={"cidr_retry_seconds": 0.5}
    )
    try:
        await client.create(NODES, node_body(preset, "10.250.0.0/24"))
        async with controllers_running(bare_server, ["node-ipam-controller"], options):
            for name in names:
                await client.create(NODES, node_body(name))

            async def settled() -> dict[str, list[str]] | None:
                found = {name: await cidrs_of(client, name) for name in names}
                return found if sum(1 for c in found.values() if c) == 3 else None

            found = await eventually(settled, timeout=30)
            given = [c[0] for c in found.values() if c]
            # Never the preset node's range, never twice, always inside the cluster CIDR, spec.podCIDR too.
            assert sorted(given) == ["10.250.1.0/24", "10.250.2.0/24", "10.250.3.0/24"]
            for name, cidrs in found.items():
                if cidrs:
                    assert (await client.get(NODES, name=name))["spec"]["podCIDR"] == cidrs[0]
                    assert ipaddress.ip_network(cidrs[0]).subnet_of(ipaddress.ip_network(CLUSTER))
            (waiting,) = [name for name, cidrs in found.items() if not cidrs]

            async def full_event() -> bool:
                events = await client.list(
                    EVENTS, namespace="default", field_selector=f"involvedObject.name={waiting}"
                )
                return any(e["reason"] == "CIDRNotAvailable" for e in events["items"])

            await eventually(full_event, timeout=30)
            # The apiserver keeps pod CIDRs once set (podCIDR, which wins over podCIDRs, changed too).
            donor = next(name for name, cidrs in found.items() if cidrs)
            with pytest.raises(StatusError) as refused:
                moved = {"podCIDR": "10.250.9.0/24", "podCIDRs": ["10.250.9.0/24"]}
                await client.patch(NODES, {"spec": moved}, name=donor)
            assert refused.value.code == 422
            # Deleting a node frees its range for the node that waited.
            freed = found[donor][0]
            await client.delete(NODES, name=donor)

            async def reused() -> list[str]:
                return await cidrs_of(client, waiting)

            assert await eventually(reused, timeout=30) == [freed]
    finally:
        for name in [preset, *names]:
            try:
                await client.delete(NODES, name=name)
            except StatusError:
                pass
        await client.close()


async def test_disabled_allocation_leaves_nodes_alone(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    name = f"ipam-off-{uuid.uuid4().hex[:6]}"
    options = ControllerOptions(cluster_cidr=CLUSTER, allocate_node_cidrs=False)
    try:
        async with controllers_running(bare_server, ["node-ipam-controller"], options) as manager:
            controller = manager.controllers["node-ipam-controller"]
            await client.create(NODES, node_body(name))

            async def handled() -> bool:  # seen by the controller and worked off its queue
                return name in controller.nodes.store and len(controller.queue) == 0  # type: ignore[attr-defined]

            await eventually(handled, timeout=10)
            assert await cidrs_of(client, name) == []
    finally:
        await client.delete(NODES, name=name)
        await client.close()
