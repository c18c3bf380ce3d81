"""The identities `kubeling server` writes for its node: a kubelet kubeconfig that logs in by certificate."""

from __future__ import annotations

import socket
import uuid

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.kubeconfig import load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

SECRETS = StaticResource("", "v1", "secrets")
NODES = StaticResource("", "v1", "nodes", namespaced=False)
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)
CONFIGMAPS = StaticResource("", "v1", "configmaps")
PODS = StaticResource("", "v1", "pods")
PVCS = StaticResource("", "v1", "persistentvolumeclaims")
PVS = StaticResource("", "v1", "persistentvolumes", namespaced=False)


async def test_the_kubelet_kubeconfig_is_the_node_identity(server: KubelingServer) -> None:
    node = socket.gethostname().lower()
    config = load_config(str(server.data_dir / "kubelet.kubeconfig"))
    assert config.cert_file and not config.bearer_token()  # a certificate, not a token
    async with RESTClient(config, component="test", max_retries=0) as kubelet:
        review = await kubelet.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        user = review["status"]["userInfo"]
        assert user["username"] == f"system:node:{node}"
        assert "system:nodes" in user["groups"]
        # The Node authorizer: secrets only of pods bound to it, so a list of all is refused...
        with pytest.raises(StatusError) as refused:
            await kubelet.list(SECRETS, namespace="kube-system")
        assert refused.value.code == 403
        # ...and NodeRestriction: it may register its own Node but no other.
        other = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"not-{node}"}}
        with pytest.raises(StatusError) as forbidden:
            await kubelet.create(NODES, other)
        assert forbidden.value.code == 403


async def test_a_node_reads_what_its_pods_use_one_object_at_a_time(server: KubelingServer) -> None:
    node = socket.gethostname().lower()
    namespace = f"node-reads-{uuid.uuid4().hex[:6]}"
    async with RESTClient(load_config(str(server.kubeconfig)), component="test") as admin:
        await admin.create(NAMESPACES, {"metadata": {"name": namespace}})
        await admin.create(
            CONFIGMAPS, {"metadata": {"name": "mounted"}, "data": {"a": "b"}}, namespace=namespace
        )
        volume = f"pv-{namespace}"
        await admin.create(
            PVS,
            {
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/tmp/kubeling-test-pv"},
                    "storageClassName": "",
                },
            },
        )
        claim = {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "",
                "volumeName": volume,
            },
        }
        await admin.create(PVCS, claim, namespace=namespace)
        pod = {
            "metadata": {"name": "user"},
            "spec": {
                "nodeName": node,
                "schedulerName": "none-such",
                "containers": [{"name": "c", "image": "busybox"}],
                "volumes": [
                    {"name": "cm", "configMap": {"name": "mounted"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                ],
            },
        }
        await admin.create(PODS, pod, namespace=namespace)
        try:
            async with RESTClient(
                load_config(str(server.data_dir / "kubelet.kubeconfig")), component="test", max_retries=0
            ) as kubelet:
                # A list or watch pinned to one name is authorized as a read of that object.
                pinned = await kubelet.list(
                    CONFIGMAPS, namespace=namespace, field_selector="metadata.name=mounted"
                )
                assert [i["metadata"]["name"] for i in pinned["items"]] == ["mounted"]
                with pytest.raises(StatusError) as everything:
                    await kubelet.list(CONFIGMAPS, namespace=namespace)
                assert everything.value.code == 403
                # The PersistentVolume behind its pod's claim.
                assert (await kubelet.get(PVS, name=volume))["metadata"]["name"] == volume
        finally:
            await admin.delete(NAMESPACES, name=namespace)
            await admin.delete(PVS, name=volume)
