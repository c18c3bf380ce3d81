"""The kubelet tests' Docker fixtures (images, the session's CNI network, a labelled runtime), reused."""

from tests.integration.kubelet.conftest import docker_client, docker_runtime, images, test_network

__all__ = ["docker_client", "docker_runtime", "images", "test_network"]
