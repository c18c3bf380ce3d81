"""persistentvolume-binder-controller against a real server: binding, provisioning, reclaim, protection."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.resources import (
    EVENTS,
    NAMESPACES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    STORAGECLASSES,
)
from tests.fixtures.controllers import admin_client, controllers_running, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


def _pv(name: str, size: str, storage_class: str, policy: str = "Retain") -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": policy,
            "storageClassName": storage_class,
            "hostPath": {"path": f"/tmp/{name}"},
        },
    }


def _pvc(name: str, size: str, storage_class: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": storage_class,
        },
    }


def _pod(name: str, claim: str, node: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "a", "image": "x"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


@contextlib.asynccontextmanager
async def _scenario(server: KubelingServer) -> AsyncIterator[tuple[RESTClient, str]]:
    client = admin_client(server)
    ns = f"pv-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        async with controllers_running(server, ["persistentvolume-binder-controller"]):
            yield client, ns
    finally:
        for pv in (await client.list(PERSISTENTVOLUMES))["items"]:
            if (
                pv["metadata"]["name"].startswith(ns)
                or (pv["spec"].get("claimRef") or {}).get("namespace") == ns
            ):
                with contextlib.suppress(StatusError):
                    await client.patch(
                        PERSISTENTVOLUMES, {"metadata": {"finalizers": None}}, name=pv["metadata"]["name"]
                    )
                    await client.delete(PERSISTENTVOLUMES, name=pv["metadata"]["name"])
        for sc in (await client.list(STORAGECLASSES))["items"]:
            if sc["metadata"]["name"].startswith(ns):
                await client.delete(STORAGECLASSES, name=sc["metadata"]["name"])
        for pvc in (await client.list(PERSISTENTVOLUMECLAIMS, namespace=ns))["items"]:
            with contextlib.suppress(StatusError):
                await client.patch(
                    PERSISTENTVOLUMECLAIMS,
                    {"metadata": {"finalizers": None}},
                    name=pvc["metadata"]["name"],
                    namespace=ns,
                )
        await client.delete(NAMESPACES, name=ns)
        await client.close()


async def _get(client: RESTClient, resource, name: str, namespace: str | None = None) -> dict | None:
    try:
        return await client.get(resource, name=name, namespace=namespace)
    except StatusError as exc:
        if exc.code == 404:
            return None
        raise


async def _event(client: RESTClient, ns: str, reason: str) -> dict | None:
    events = (await client.list(EVENTS, namespace=ns))["items"]
    return next((e for e in events if e.get("reason") == reason), None)


async def test_static_binding_smallest_fit_retain_and_protection(bare_server: KubelingServer) -> None:
    async with _scenario(bare_server) as (client, ns):
        manual = f"{ns}-manual"
        await client.create(PERSISTENTVOLUMES, _pv(f"{ns}-big", "5Gi", manual))
        await client.create(PERSISTENTVOLUMES, _pv(f"{ns}-small", "1Gi", manual))
        await client.create(PERSISTENTVOLUMES, _pv(f"{ns}-tiny", "100Mi", manual))
        claim = await client.create(PERSISTENTVOLUMECLAIMS, _pvc("data", "500Mi", manual), namespace=ns)
        assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]

        async def bound() -> dict | None:
            got = await _get(client, PERSISTENTVOLUMECLAIMS, "data", ns)
            return got if got and got["status"].get("phase") == "Bound" else None

        claim = await eventually(bound, timeout=30)
        assert claim["spec"]["volumeName"] == f"{ns}-small"
        assert claim["status"]["capacity"] == {"storage": "1Gi"}
        assert claim["status"]["accessModes"] == ["ReadWriteOnce"]
        annotations = claim["metadata"]["annotations"]
        assert annotations["pv.kubernetes.io/bind-completed"] == "yes"
        assert annotations["pv.kubernetes.io/bound-by-controller"] == "yes"

        async def pv_phase(name: str, phase: str) -> dict | None:
            got = await _get(client, PERSISTENTVOLUMES, name)
            return got if got and (got.get("status") or {}).get("phase") == phase else None

        pv = await eventually(lambda: pv_phase(f"{ns}-small", "Bound"), timeout=30)
        assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
        assert pv["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
        await eventually(lambda: pv_phase(f"{ns}-big", "Available"), timeout=30)

        # In use by a pod: the claim is not removed until the pod is gone.
        await client.create(PODS, _pod("user", "data", "nowhere"), namespace=ns)
        await client.delete(PERSISTENTVOLUMECLAIMS, name="data", namespace=ns)
        held = await _get(client, PERSISTENTVOLUMECLAIMS, "data", ns)
        assert held is not None and held["metadata"].get("deletionTimestamp")
        # A Bound volume being deleted is held by pv-protection too.
        await client.delete(PERSISTENTVOLUMES, name=f"{ns}-small")
        await client.delete(PODS, name="user", namespace=ns, grace_period_seconds=0)

        async def claim_gone() -> bool:
            return await _get(client, PERSISTENTVOLUMECLAIMS, "data", ns) is None

        await eventually(claim_gone, timeout=30)

        # Retain: the volume is Released, then (no longer Bound) its deletion completes.
        async def pv_gone() -> bool:
            return await _get(client, PERSISTENTVOLUMES, f"{ns}-small") is None

        await eventually(pv_gone, timeout=30)


async def test_released_volume_kept_with_retain(bare_server: KubelingServer) -> None:
    async with _scenario(bare_server) as (client, ns):
        manual = f"{ns}-manual"
        await client.create(PERSISTENTVOLUMES, _pv(f"{ns}-keep", "1Gi", manual))
        await client.create(PERSISTENTVOLUMECLAIMS, _pvc("data", "1Gi", manual), namespace=ns)

        async def pv_phase(phase: str) -> dict | None:
            got = await _get(client, PERSISTENTVOLUMES, f"{ns}-keep")
            return got if got and (got.get("status") or {}).get("phase") == phase else None

        await eventually(lambda: pv_phase("Bound"), timeout=30)
        await client.delete(PERSISTENTVOLUMECLAIMS, name="data", namespace=ns)
        released = await eventually(lambda: pv_phase("Released"), timeout=30)
        assert released["spec"]["claimRef"]["name"] == "data"


async def test_no_class_and_no_volume_is_a_failed_binding(bare_server: KubelingServer) -> None:
    async with _scenario(bare_server) as (client, ns):
        await client.create(PERSISTENTVOLUMECLAIMS, _pvc("lonely", "1Gi", ""), namespace=ns)
        event = await eventually(lambda: _event(client, ns, "FailedBinding"), timeout=30)
        assert (
            event["message"] == "no persistent volumes available for this claim and no storage class is set"
        )
        claim = await client.get(PERSISTENTVOLUMECLAIMS, name="lonely", namespace=ns)
        assert claim["status"]["phase"] == "Pending"


async def test_dynamic_provisioning_immediate_and_delete_policy(bare_server: KubelingServer) -> None:
    async with _scenario(bare_server) as (client, ns):
        sc = f"{ns}-hostpath"
        await client.create(STORAGECLASSES, {"metadata": {"name": sc}, "provisioner": "kubeling.io/hostpath"})
        claim = await client.create(PERSISTENTVOLUMECLAIMS, _pvc("data", "2Gi", sc), namespace=ns)

        async def bound() -> dict | None:
            got = await _get(client, PERSISTENTVOLUMECLAIMS, "data", ns)
            return got if got and got["status"].get("phase") == "Bound" else None

        claim = await eventually(bound, timeout=30)
        name = f"pvc-{claim['metadata']['uid']}"
        assert claim["spec"]["volumeName"] == name
        assert (
            claim["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"]
            == "kubeling.io/hostpath"
        )
        pv = await client.get(PERSISTENTVOLUMES, name=name)
        assert pv["spec"]["hostPath"] == {
            "path": f"/var/lib/kubeling/volumes/{name}",
            "type": "DirectoryOrCreate",
        }
        assert pv["spec"]["capacity"] == {"storage": "2Gi"}
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "kubeling.io/hostpath"
        event = await eventually(lambda: _event(client, ns, "ProvisioningSucceeded"), timeout=30)
        assert event["message"] == f"Successfully provisioned volume {name} using kubeling.io/hostpath"

        await client.delete(PERSISTENTVOLUMECLAIMS, name="data", namespace=ns)

        async def pv_gone() -> bool:
            return await _get(client, PERSISTENTVOLUMES, name) is None

        await eventually(pv_gone, timeout=30)


async def test_wait_for_first_consumer(bare_server: KubelingServer) -> None:
    async with _scenario(bare_server) as (client, ns):
        sc = f"{ns}-wffc"
        await client.create(
            STORAGECLASSES,
            {
                "metadata": {"name": sc},
                "provisioner": "kubeling.io/hostpath",
                "volumeBindingMode": "WaitForFirstConsumer",
            },
        )
        await client.create(PERSISTENTVOLUMECLAIMS, _pvc("data", "1Gi", sc), namespace=ns)
        await eventually(lambda: _event(client, ns, "WaitForFirstConsumer"), timeout=30)
        claim = await client.get(PERSISTENTVOLUMECLAIMS, name="data", namespace=ns)
        assert claim["status"]["phase"] == "Pending" and not claim["spec"].get("volumeName")

        node = f"{ns}-node"
        await client.create(PODS, _pod("consumer", "data", node), namespace=ns)

        async def bound() -> dict | None:
            got = await _get(client, PERSISTENTVOLUMECLAIMS, "data", ns)
            return got if got and got["status"].get("phase") == "Bound" else None

        claim = await eventually(bound, timeout=30)
        assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
        pv = await client.get(PERSISTENTVOLUMES, name=claim["spec"]["volumeName"])
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms == [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
        ]
        await client.delete(PODS, name="consumer", namespace=ns, grace_period_seconds=0)
