"""Priority, DefaultTolerationSeconds and TaintNodesByCondition on a real server."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from kubeling.api.errors import StatusError
from kubeling.controllers.resources import NAMESPACES, NODES, PODS, PRIORITYCLASSES
from tests.fixtures.controllers import admin_client
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


def _pod(name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec}}


async def test_system_priority_classes_exist(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    try:
        node = await client.get(PRIORITYCLASSES, name="system-node-critical")
        cluster = await client.get(PRIORITYCLASSES, name="system-cluster-critical")
        assert (node["value"], cluster["value"]) == (2000001000, 2000000000)
        assert node["preemptionPolicy"] == "PreemptLowerPriority" and not node.get("globalDefault")
        with pytest.raises(StatusError) as err:
            await client.create(PRIORITYCLASSES, {"metadata": {"name": "system-mine"}, "value": 5})
        assert err.value.code == 422
    finally:
        await client.close()


async def test_pod_priority_and_default_tolerations(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    ns = f"prio-{uuid.uuid4().hex[:6]}"
    high, base = f"high-{ns}", f"base-{ns}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        await client.create(
            PRIORITYCLASSES, {"metadata": {"name": high}, "value": 1000, "preemptionPolicy": "Never"}
        )
        pod = await client.create(PODS, _pod("web", priorityClassName=high), namespace=ns)
        assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (1000, "Never")
        assert pod["spec"]["tolerations"] == [
            {
                "key": f"node.kubernetes.io/{key}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for key in ("not-ready", "unreachable")
        ]

        critical = await client.create(
            PODS, _pod("crit", priorityClassName="system-node-critical"), namespace=ns
        )
        assert critical["spec"]["priority"] == 2000001000
        plain = await client.create(PODS, _pod("plain"), namespace=ns)
        assert plain["spec"]["priority"] == 0 and "priorityClassName" not in plain["spec"]

        with pytest.raises(StatusError) as err:
            await client.create(PODS, _pod("lost", priorityClassName=f"gone-{ns}"), namespace=ns)
        assert err.value.code == 403
        assert (
            err.value.message == f'pods "lost" is forbidden: no PriorityClass with name gone-{ns} was found'
        )
        with pytest.raises(StatusError) as err:
            await client.create(PODS, _pod("cheat", priorityClassName=high, priority=5), namespace=ns)
        assert err.value.code == 403 and "must not be provided in pod spec" in err.value.message

        await client.create(PRIORITYCLASSES, {"metadata": {"name": base}, "value": 7, "globalDefault": True})
        with pytest.raises(StatusError) as err:
            await client.create(
                PRIORITYCLASSES, {"metadata": {"name": f"second-{ns}"}, "value": 8, "globalDefault": True}
            )
        assert err.value.code == 403
        assert f"PriorityClass {base} is already marked as default. Only one default can exist" in (
            err.value.message
        )
        defaulted = await client.create(PODS, _pod("defaulted"), namespace=ns)
        assert (defaulted["spec"]["priorityClassName"], defaulted["spec"]["priority"]) == (base, 7)
    finally:
        for name in (base, high):
            with contextlib.suppress(StatusError):
                await client.delete(PRIORITYCLASSES, name=name)
        await client.delete(NAMESPACES, name=ns)
        await client.close()


async def test_new_node_is_tainted_not_ready(bare_server: KubelingServer) -> None:
    client = admin_client(bare_server)
    name = f"taint-{uuid.uuid4().hex[:6]}"
    try:
        node = await client.create(NODES, {"metadata": {"name": name}})
        assert node["spec"]["taints"] == [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
        # Only creation is touched: the taint can be removed afterwards.
        node["spec"]["taints"] = []
        updated = await client.update(NODES, node)
        assert not updated["spec"].get("taints")
    finally:
        with contextlib.suppress(StatusError):
            await client.delete(NODES, name=name)
        await client.close()
