"""The identities `kubeling server` writes for its node: a kubelet kubeconfig that logs in by certificate."""

from __future__ import annotations

import socket

import pytest

from kubeling.api.errors import StatusError
from kubeling.client.kubeconfig import load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

SECRETS = StaticResource("", "v1", "secrets")
NODES = StaticResource("", "v1", "nodes", namespaced=False)


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
