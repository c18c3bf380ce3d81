"""controller-manager's own machinery against a real server: SA credentials, leader election, basics."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from kubeling.api.errors import StatusError
from kubeling.controllers.base import ControllerOptions
from kubeling.controllers.manager import ControllerManager, ControllerManagerConfig, enabled_controllers
from kubeling.controllers.resources import CONFIGMAPS, LEASES, NAMESPACES, SERVICEACCOUNTS
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer, free_port

pytestmark = pytest.mark.integration


def test_controllers_flag_grammar() -> None:
    defaults = enabled_controllers(["*"])
    assert "replicaset-controller" in defaults and "deployment-controller" in defaults
    assert "replicaset-controller" not in enabled_controllers(["*", "-replicaset"])
    assert enabled_controllers(["job"]) == ["job-controller"]
    with pytest.raises(ValueError, match="not in the list of known controllers"):
        enabled_controllers(["no-such-thing"])


async def test_every_namespace_gets_a_default_service_account_and_the_root_ca(
    bare_server: KubelingServer,
) -> None:
    client = admin_client(bare_server)
    options = ControllerOptions(root_ca_file=str(bare_server.data_dir / "pki" / "ca.crt"))
    names = ["serviceaccount-controller", "root-ca-certificate-publisher-controller"]
    namespace = f"sa-{uuid.uuid4().hex[:6]}"
    try:
        async with controllers_running(bare_server, names, options) as manager:
            await client.create(NAMESPACES, {"metadata": {"name": namespace}})

            async def published() -> bool:
                try:
                    await client.get(SERVICEACCOUNTS, name="default", namespace=namespace)
                    cm = await client.get(CONFIGMAPS, name="kube-root-ca.crt", namespace=namespace)
                except StatusError:
                    return False
                return cm["data"]["ca.crt"] == (bare_server.data_dir / "pki" / "ca.crt").read_text()

            await eventually(published)
            # Deleted or edited, both come back.
            await client.delete(SERVICEACCOUNTS, name="default", namespace=namespace)
            cm = await client.get(CONFIGMAPS, name="kube-root-ca.crt", namespace=namespace)
            cm["data"]["ca.crt"] = "tampered"
            await client.update(CONFIGMAPS, cm, namespace=namespace)
            await eventually(published)
            # Each controller talks to the API as its own ServiceAccount, not as the admin.
            for name, sa in (
                ("serviceaccount-controller", "service-account-controller"),
                ("root-ca-certificate-publisher-controller", "root-ca-cert-publisher"),
            ):
                review = await manager.controllers[name].client.request(
                    "POST",
                    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                )
                assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:kube-system:{sa}"
    finally:
        await client.delete(NAMESPACES, name=namespace)
        await client.close()


async def test_a_standby_controller_manager_takes_over_when_the_leader_dies(
    bare_server: KubelingServer,
) -> None:
    client = admin_client(bare_server)

    def manager(port: int) -> ControllerManager:
        config = ControllerManagerConfig(
            controllers=["serviceaccount-controller"],
            leader_elect_lease_duration=3.0,
            leader_elect_renew_deadline=2.0,
            leader_elect_retry_period=0.5,
            bind_address="127.0.0.1",
            secure_port=port,
        )
        return ControllerManager(config, client)

    health_port = free_port()
    first, second = manager(health_port), manager(0)
    first_task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.running.wait(), 20)
    second_task = asyncio.create_task(second.run())
    try:
        await asyncio.sleep(1.5)
        assert not second.running.is_set(), "two leaders at once"
        lease = await client.get(LEASES, name="kube-controller-manager", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == first.identity
        # The leader's health endpoint, as a static pod's liveness probe would see it (HTTPS).
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{health_port}/healthz?verbose"
            async with session.get(url, ssl=False) as answer:
                assert answer.status == 200
                assert "[+]leaderElection ok" in await answer.text()
        first_task.cancel()  # a clean stop releases the lease: the standby leads at its next try
        await asyncio.gather(first_task, return_exceptions=True)
        await asyncio.wait_for(second.running.wait(), 10)
        lease = await client.get(LEASES, name="kube-controller-manager", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == second.identity
    finally:
        for task in (first_task, second_task):
            task.cancel()
        await asyncio.gather(first_task, second_task, return_exceptions=True)
        await client.close()
