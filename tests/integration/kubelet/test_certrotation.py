"""Kubelet client-certificate rotation against a real server: a hollow node whose certificate
lives 15 s rotates it through a CSR (auto-approved, signed by the server's controllers) and keeps
renewing its Lease after the first certificate expired; a restarted manager picks up the stored pair."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import random
from pathlib import Path

import pytest

from kubeling.client.rest import RESTClient
from kubeling.kubelet.certrotation import CURRENT, ClientCertificateManager, split_pem
from kubeling.kubelet.hollow import HollowNode, HollowNodeConfig
from kubeling.pki.certs import load_cert, utcnow
from tests.fixtures.server import KubelingServer, kubectl
from tests.integration.controllers.test_certificates import AUTOAPPROVE_BINDING, node_client

pytestmark = pytest.mark.integration


@pytest.fixture
def autoapprove(server: KubelingServer):
    kubectl(server, "apply", "-f", "-", input=json.dumps(AUTOAPPROVE_BINDING))
    yield
    kubectl(
        server, "delete", "clusterrolebinding", AUTOAPPROVE_BINDING["metadata"]["name"], "--ignore-not-found"
    )


async def _lease_age(client: RESTClient, node: str) -> float:
    from kubeling.controllers.resources import LEASES as lease_resource

    lease = await client.get(lease_resource, namespace="kube-node-lease", name=node)
    renewed = datetime.datetime.strptime(lease["spec"]["renewTime"][:19], "%Y-%m-%dT%H:%M:%S")
    return (utcnow().replace(tzinfo=None) - renewed).total_seconds()


async def test_hollow_node_rotates_a_short_lived_client_certificate(
    server: KubelingServer, autoapprove: None, tmp_path: Path
) -> None:
    name = "rotating-node"
    client = node_client(server, name, datetime.timedelta(seconds=15))
    first = load_cert(client.config.cert_data or b"")
    manager = ClientCertificateManager(
        client, node_name=name, cert_dir=tmp_path / "pki", rng=random.Random(7)
    )
    node = HollowNode(
        client,
        HollowNodeConfig(name=name, pod_cidr="10.150.0.0/24", node_ip="10.151.0.1", renew_interval=1.0),
    )
    tasks = [asyncio.create_task(node.run()), asyncio.create_task(manager.run())]
    try:
        # Past the first certificate's end: every request since used the rotated one.
        await asyncio.sleep(max(0.0, (first.not_valid_after_utc - utcnow()).total_seconds()) + 3)
        for task in tasks:
            assert not task.done(), task
        assert manager.rotations == 1
        assert await _lease_age(client, name) < 3.0
        stored = tmp_path / "pki" / CURRENT
        assert stored.is_symlink() and os.stat(stored).st_mode & 0o777 == 0o600
        cert_pem, _ = split_pem(stored.read_bytes())
        rotated = load_cert(cert_pem)
        assert rotated.serial_number != first.serial_number
        assert rotated.subject == first.subject
        assert rotated.not_valid_after_utc - utcnow() > datetime.timedelta(days=300)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()

    # A restart with the kubeconfig's (now expired) certificate: the stored pair is used instead.
    restarted = node_client(server, name, datetime.timedelta(seconds=1))
    try:
        await asyncio.sleep(1.5)
        again = ClientCertificateManager(restarted, node_name=name, cert_dir=tmp_path / "pki")
        assert await again.load_stored()
        assert again.current().serial_number == rotated.serial_number
        assert await _lease_age(restarted, name) < 60
    finally:
        await restarted.close()
