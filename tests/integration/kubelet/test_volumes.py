"""VolumeManager against a real server: configMap/secret contents and updates, projected tokens, PVCs.

The manager talks to the apiserver as the node (``system:node:<name>`` from the
server's kubelet.kubeconfig), so the Node authorizer's limits apply as they
will to the kubelet; pods are bound to that node by ``spec.nodeName`` and no
kubelet runs them.  The checks read the files on the host.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from kubeling.api.errors import StatusError
from kubeling.api.resources import Registry
from kubeling.client.kubeconfig import ClientConfig, load_config
from kubeling.client.rest import RESTClient
from kubeling.kubelet.volumeplugins import hostutil
from kubeling.kubelet.volumes import MountError, VolumeManager
from tests.fixtures.controllers import admin_client, eventually
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

_REGISTRY = Registry()
NAMESPACES = _REGISTRY.get("", "v1", "namespaces")
PODS = _REGISTRY.get("", "v1", "pods")
CONFIGMAPS = _REGISTRY.get("", "v1", "configmaps")
SECRETS = _REGISTRY.get("", "v1", "secrets")
SERVICEACCOUNTS = _REGISTRY.get("", "v1", "serviceaccounts")
PVS = _REGISTRY.get("", "v1", "persistentvolumes")
PVCS = _REGISTRY.get("", "v1", "persistentvolumeclaims")


class Env:
    def __init__(self, admin: RESTClient, node: RESTClient, node_name: str, ns: str, root: Path) -> None:
        self.admin, self.node, self.node_name, self.ns, self.root = admin, node, node_name, ns, root
        self.offset = 0.0  # seconds the manager's clock runs ahead of the real one
        self.manager = VolumeManager(node, root, node_name, now=lambda: time.time() + self.offset)

    async def pod(self, name: str, volumes: list[dict], **spec: object) -> dict:
        body = {
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "nodeName": self.node_name,
                "containers": [{"name": "c", "image": "kubeling/busybox"}],
                "volumes": volumes,
                **spec,
            },
        }
        return await self.admin.create(PODS, body, namespace=self.ns)

    def files(self, plugin: str, pod: dict, volume: str) -> Path:
        return self.manager.volume_dir(pod["metadata"]["uid"], plugin, volume)


@pytest.fixture
async def env(server: KubelingServer, tmp_path: Path) -> AsyncIterator[Env]:
    admin = admin_client(server)
    kubelet_config = server.data_dir / "kubelet.kubeconfig"
    node_name = yaml.safe_load(kubelet_config.read_text())["users"][0]["name"].removeprefix("system:node:")
    node = RESTClient(load_config(str(kubelet_config)), component="kubelet", qps=0)
    ns = f"vol-{uuid.uuid4().hex[:6]}"
    await admin.create(NAMESPACES, {"metadata": {"name": ns}})

    async def ready() -> bool:  # pods need the default account; kube-api-access needs the CA bundle
        with contextlib.suppress(StatusError):
            await admin.get(SERVICEACCOUNTS, namespace=ns, name="default")
            await admin.get(CONFIGMAPS, namespace=ns, name="kube-root-ca.crt")
            return True
        return False

    await eventually(ready)
    state = Env(admin, node, node_name, ns, tmp_path / "kubelet")
    try:
        yield state
    finally:
        for uid in state.manager.pod_uids_on_disk():
            await state.manager.teardown(uid)
        assert hostutil.mounts_under(state.root) == []
        assert state.manager.cache is not None and state.manager.cache.watched() == []
        await state.manager.close()
        with contextlib.suppress(StatusError):
            await admin.delete(NAMESPACES, name=ns)
        await node.close()
        await admin.close()


async def test_configmap_and_secret_contents_and_updates(env: Env) -> None:
    await env.admin.create(
        CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"a": "one", "b": "two"}}, namespace=env.ns
    )
    secret = {"metadata": {"name": "creds"}, "data": {"pw": base64.b64encode(b"s3cret").decode()}}
    await env.admin.create(SECRETS, secret, namespace=env.ns)
    pod = await env.pod(
        "cm",
        [
            {"name": "config", "configMap": {"name": "cfg"}},
            {
                "name": "picked",
                "configMap": {"name": "cfg", "items": [{"key": "a", "path": "x/a", "mode": 0o400}]},
            },
            {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o440}},
        ],
        automountServiceAccountToken=False,
    )
    await env.manager.setup(pod)
    config = env.files("kubernetes.io~configmap", pod, "config")
    picked = env.files("kubernetes.io~configmap", pod, "picked")
    creds = env.files("kubernetes.io~secret", pod, "creds")
    assert (config / "a").read_text() == "one" and (config / "b").read_text() == "two"
    assert (picked / "x" / "a").read_text() == "one" and not (picked / "b").exists()
    assert (picked / "x" / "a").stat().st_mode & 0o777 == 0o400
    assert (creds / "pw").read_bytes() == b"s3cret"
    assert (creds / "pw").stat().st_mode & 0o777 == 0o440
    assert (str(creds), "tmpfs") in hostutil.mount_points()  # secrets never touch the disk

    container = {
        "name": "c",
        "volumeMounts": [
            {"name": "config", "mountPath": "/cfg"},
            {"name": "config", "mountPath": "/a", "subPath": "a"},
        ],
    }
    mounts = env.manager.mounts_for(pod, container)
    assert [(m.container_path, m.read_only) for m in mounts] == [("/cfg", True), ("/a", True)]
    pinned = Path(mounts[1].host_path)
    assert pinned.read_text() == "one"

    # Updates propagate through the ..data swap; removed keys disappear; subPath files stay pinned.
    await env.admin.update(
        CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"a": "uno", "c": "tres"}}, namespace=env.ns
    )
    secret["data"]["pw"] = base64.b64encode(b"rotated").decode()
    await env.admin.update(SECRETS, secret, namespace=env.ns)

    # The node reads both through one watch each: the change arrives within moments, not at once.
    async def refreshed() -> bool:
        await env.manager.refresh(pod)
        return (creds / "pw").read_bytes() == b"rotated" and (config / "a").read_text() == "uno"

    await eventually(refreshed, timeout=10)
    assert (config / "a").read_text() == "uno" and (config / "c").read_text() == "tres"
    assert not (config / "b").exists()
    assert (creds / "pw").read_bytes() == b"rotated"
    assert (picked / "x" / "a").read_text() == "uno"
    assert not await env.manager.refresh(pod)  # nothing new: nothing written
    # The subPath mount bound the file of its moment; a new container would get the new one.
    repinned = Path(env.manager.mounts_for(pod, container)[1].host_path)
    assert repinned != pinned and repinned.read_text() == "uno"


async def test_object_watches_feed_refreshes(env: Env) -> None:
    """One watch per referenced object while pods use it; changes name the pods to resync.

    As the admin: kubeling's apiserver does not yet read a ``metadata.name``
    field selector as the object's name, so the Node authorizer refuses the
    node's single-object watches (the manager then reads with GETs, as above).
    """
    changed: list[str] = []
    manager = VolumeManager(env.admin, env.root, env.node_name, on_object_change=changed.extend)
    cache = manager.cache
    assert cache is not None
    await env.admin.create(CONFIGMAPS, {"metadata": {"name": "shared"}, "data": {"k": "1"}}, namespace=env.ns)
    volumes = [{"name": "v", "configMap": {"name": "shared"}}]
    first = await env.pod("w1", volumes, automountServiceAccountToken=False)
    second = await env.pod("w2", volumes, automountServiceAccountToken=False)
    ref = ("configmaps", env.ns, "shared")
    try:
        await manager.setup(first)
        await manager.setup(second)
        assert cache.watched() == [ref]  # shared by both pods

        async def synced() -> bool:
            return cache.lookup(ref)[0]

        await eventually(synced, timeout=10)
        await env.admin.update(
            CONFIGMAPS, {"metadata": {"name": "shared"}, "data": {"k": "2"}}, namespace=env.ns
        )

        async def notified() -> bool:
            return {first["metadata"]["uid"], second["metadata"]["uid"]} <= set(changed)

        await eventually(notified, timeout=10)
        assert (cache.lookup(ref)[1] or {})["data"] == {"k": "2"}
        assert await manager.refresh(first)
        assert (env.files("kubernetes.io~configmap", first, "v") / "k").read_text() == "2"

        await manager.teardown(first["metadata"]["uid"])
        assert cache.watched() == [ref]  # the second pod still uses it
        await manager.teardown(second["metadata"]["uid"])
        assert cache.watched() == []
    finally:
        await manager.close()


async def test_missing_configmap_fails_mount_unless_optional(env: Env) -> None:
    pod = await env.pod(
        "missing",
        [
            {"name": "need", "configMap": {"name": "nowhere"}},
            {"name": "maybe", "secret": {"secretName": "nowhere", "optional": True}},
        ],
        automountServiceAccountToken=False,
    )
    with pytest.raises(MountError) as caught:
        await env.manager.setup(pod)
    assert caught.value.reason == "FailedMount"
    assert str(caught.value) == 'MountVolume.SetUp failed for volume "need" : configmap "nowhere" not found'
    maybe = env.files("kubernetes.io~secret", pod, "maybe")
    assert [p for p in maybe.iterdir() if not p.name.startswith("..")] == []
    # Once the ConfigMap exists, the next sync sets the volume up.
    await env.admin.create(
        CONFIGMAPS, {"metadata": {"name": "nowhere"}, "data": {"k": "v"}}, namespace=env.ns
    )

    async def mounted() -> bool:
        try:
            await env.manager.setup(pod)
        except MountError:
            return False  # the object's watch has not delivered it yet: the kubelet retries the same way
        return True

    await eventually(mounted, timeout=10)
    assert (env.files("kubernetes.io~configmap", pod, "need") / "k").read_text() == "v"


async def _whoami(server: KubelingServer, token: str) -> str:
    base = load_config(str(server.kubeconfig))
    config = ClientConfig(server=base.server, ca_file=base.ca_file, ca_data=base.ca_data, token=token)
    async with RESTClient(config, component="test", qps=0, max_retries=0) as client:
        review = await client.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    return review["status"]["userInfo"]["username"]


async def test_kube_api_access_projection_and_token_renewal(env: Env, server: KubelingServer) -> None:
    pod = await env.pod("sa", [])
    (access,) = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    await env.manager.setup(pod)
    files = env.files("kubernetes.io~projected", pod, access["name"])
    assert (files / "namespace").read_text() == env.ns
    root_ca = await env.admin.get(CONFIGMAPS, namespace=env.ns, name="kube-root-ca.crt")
    assert (files / "ca.crt").read_text() == root_ca["data"]["ca.crt"]
    token = (files / "token").read_text()
    assert await _whoami(server, token) == f"system:serviceaccount:{env.ns}:default"

    # Not due yet: the same token stays; past 80 % of its lifetime a new one replaces it.
    assert not await env.manager.refresh(pod)
    lifetime = access["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"]
    env.offset = lifetime * 0.8 + 5
    assert await env.manager.refresh(pod)
    renewed = (files / "token").read_text()
    assert renewed != token
    assert await _whoami(server, renewed) == f"system:serviceaccount:{env.ns}:default"


async def test_projected_token_with_audience_and_downward_api(env: Env) -> None:
    volume = {
        "name": "proj",
        "projected": {
            "defaultMode": 0o600,
            "sources": [
                {
                    "serviceAccountToken": {
                        "path": "vault/token",
                        "audience": "vault",
                        "expirationSeconds": 600,
                    }
                },
                {
                    "downwardAPI": {
                        "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                    }
                },
            ],
        },
    }
    pod = await env.pod("aud", [volume], automountServiceAccountToken=False)
    await env.manager.setup(pod)
    files = env.files("kubernetes.io~projected", pod, "proj")
    token = (files / "vault" / "token").read_text()
    # The apiserver's TokenReview checks API audiences only, so read the claims themselves.
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == ["vault"]
    assert claims["exp"] - claims["iat"] == 600
    assert claims["kubernetes.io"]["pod"] == {"name": "aud", "uid": pod["metadata"]["uid"]}
    assert claims["sub"] == f"system:serviceaccount:{env.ns}:default"
    assert (files / "labels").read_text() == 'app="aud"'
    assert (files / "vault" / "token").stat().st_mode & 0o777 == 0o600


async def test_pvc_bound_to_host_path_pv(env: Env, tmp_path: Path) -> None:
    data = tmp_path / "pv-data"
    pv_name = f"{env.ns}-pv"
    await env.admin.create(
        PVS,
        {
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "hostPath": {"path": str(data), "type": "DirectoryOrCreate"},
            },
        },
    )
    try:
        claim = {
            "metadata": {"name": "claim"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        await env.admin.create(PVCS, claim, namespace=env.ns)

        async def bound() -> bool:
            got = await env.admin.get(PVCS, namespace=env.ns, name="claim")
            return got.get("status", {}).get("phase") == "Bound"

        await eventually(bound)
        volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "claim", "readOnly": True}}]
        pod = await env.pod("pvc", volumes, automountServiceAccountToken=False)
        # The Node authorizer does not let a node read PersistentVolumes yet: resolve as the admin.
        manager = VolumeManager(env.admin, env.root, env.node_name)
        await manager.setup(pod)
        container = {"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
        (mount,) = manager.mounts_for(pod, container)
        assert (mount.host_path, mount.read_only) == (str(data), True)
        assert data.is_dir()
        await manager.teardown(pod["metadata"]["uid"])
        await manager.close()
        assert data.is_dir()  # the PV's data is not the pod's to delete
    finally:
        with contextlib.suppress(StatusError):
            await env.admin.patch(PVS, {"metadata": {"finalizers": None}}, name=pv_name)
            await env.admin.delete(PVS, name=pv_name)


async def test_generic_ephemeral_volume_uses_the_pods_own_claim(env: Env, tmp_path: Path) -> None:
    template = {
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "resources": {"requests": {"storage": "1Gi"}},
        }
    }
    volumes = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": template}}]
    pod = await env.pod("eph", volumes, automountServiceAccountToken=False)
    pv_name = f"{env.ns}-eph"
    await env.admin.create(
        PVS,
        {
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "hostPath": {"path": str(tmp_path / "eph"), "type": "DirectoryOrCreate"},
            },
        },
    )
    manager = VolumeManager(env.admin, env.root, env.node_name)  # nodes may not read PVs yet
    try:
        # What the ephemeral volume controller would create: <pod>-<volume>, controlled by the pod.
        owner = {"apiVersion": "v1", "kind": "Pod", "name": "eph", "uid": pod["metadata"]["uid"]}
        claim = {"metadata": {"name": "eph-scratch"}, **template}
        await env.admin.create(PVCS, claim, namespace=env.ns)
        with pytest.raises(MountError, match=r"was not created for pod .*/eph \(pod is not owner\)"):
            await manager.setup(pod)
        await env.admin.patch(
            PVCS,
            {"metadata": {"ownerReferences": [{**owner, "controller": True}]}},
            name="eph-scratch",
            namespace=env.ns,
        )

        async def bound() -> bool:
            got = await env.admin.get(PVCS, namespace=env.ns, name="eph-scratch")
            return got.get("status", {}).get("phase") == "Bound"

        await eventually(bound)
        await manager.setup(pod)
        container = {"name": "c", "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}
        (mount,) = manager.mounts_for(pod, container)
        assert (mount.host_path, mount.read_only) == (str(tmp_path / "eph"), False)
        await manager.teardown(pod["metadata"]["uid"])
    finally:
        await manager.close()
        with contextlib.suppress(StatusError):
            await env.admin.patch(PVS, {"metadata": {"finalizers": None}}, name=pv_name)
            await env.admin.delete(PVS, name=pv_name)


async def test_unbound_claim_and_unsupported_pv(env: Env) -> None:
    claim = {
        "metadata": {"name": "lonely"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "none-such",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    await env.admin.create(PVCS, claim, namespace=env.ns)
    pod = await env.pod(
        "unbound",
        [{"name": "data", "persistentVolumeClaim": {"claimName": "lonely"}}],
        automountServiceAccountToken=False,
    )
    with pytest.raises(MountError) as caught:
        await env.manager.setup(pod)
    assert str(caught.value) == (
        'MountVolume.SetUp failed for volume "data" : PVC '
        f'{env.ns}/lonely has non-bound phase ("Pending") or empty pvc.Spec.VolumeName ("")'
    )

    # A claim bound to an NFS PV: the binder binds it, this node cannot mount it.
    pv_name = f"{env.ns}-nfs"
    await env.admin.create(
        PVS,
        {
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "nfs-only",
                "nfs": {"server": "192.0.2.1", "path": "/export"},
            },
        },
    )
    try:
        claim["metadata"]["name"] = "remote"
        claim["spec"]["storageClassName"] = "nfs-only"
        await env.admin.create(PVCS, claim, namespace=env.ns)

        async def bound() -> bool:
            got = await env.admin.get(PVCS, namespace=env.ns, name="remote")
            return got.get("status", {}).get("phase") == "Bound"

        await eventually(bound)
        pod = await env.pod(
            "nfs",
            [{"name": "data", "persistentVolumeClaim": {"claimName": "remote"}}],
            automountServiceAccountToken=False,
        )
        manager = VolumeManager(env.admin, env.root, env.node_name)  # nodes may not read PVs yet
        try:
            with pytest.raises(MountError) as caught:
                await manager.setup(pod)
        finally:
            await manager.close()
        assert str(caught.value) == (
            'MountVolume.SetUp failed for volume "data" : '
            f'unsupported volume type: PersistentVolume "{pv_name}" has source nfs'
        )
    finally:
        with contextlib.suppress(StatusError):
            await env.admin.patch(PVS, {"metadata": {"finalizers": None}}, name=pv_name)
            await env.admin.delete(PVS, name=pv_name)
