"""Which requests the apiserver proxies to a kubelet, and where the kubelet is."""

from __future__ import annotations

import pytest

from kubeling.api import errors
from kubeling.apiserver.kubeletproxy import handles, kubelet_endpoint, node_proxy_path
from kubeling.apiserver.requestinfo import parse


@pytest.mark.parametrize(
    ("method", "path", "proxied"),
    [
        ("GET", "/api/v1/namespaces/d/pods/p/log", True),
        ("GET", "/api/v1/namespaces/d/pods/p/exec", True),
        ("POST", "/api/v1/namespaces/d/pods/p/attach", True),
        ("GET", "/api/v1/namespaces/d/pods/p/portforward", True),
        ("GET", "/api/v1/nodes/n/proxy/stats/summary", True),
        ("GET", "/api/v1/nodes/n/proxy", True),
        ("GET", "/api/v1/namespaces/d/pods/p", False),
        ("GET", "/api/v1/namespaces/d/pods/p/status", False),
        ("POST", "/api/v1/namespaces/d/pods/p/eviction", False),
        ("GET", "/api/v1/nodes/n", False),
        ("GET", "/apis/apps/v1/namespaces/d/deployments/x/scale", False),
    ],
)
def test_handles(method: str, path: str, proxied: bool) -> None:
    assert handles(parse(method, path, {})) is proxied


def _node(addresses: list[tuple[str, str]], port: int | None = None) -> dict:
    status: dict = {"addresses": [{"type": t, "address": a} for t, a in addresses]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"metadata": {"name": "n"}, "status": status}


def test_endpoint_prefers_internal_ip_and_the_advertised_port() -> None:
    node = _node([("Hostname", "n"), ("ExternalIP", "1.2.3.4"), ("InternalIP", "10.0.0.5")], 12345)
    assert kubelet_endpoint(node) == ("10.0.0.5", 12345)
    assert kubelet_endpoint(_node([("Hostname", "n")])) == ("n", 10250)


def test_a_node_without_addresses_is_unavailable() -> None:
    with pytest.raises(errors.StatusError) as caught:
        kubelet_endpoint(_node([]))
    assert caught.value.code == 503


@pytest.mark.parametrize(
    ("path", "query", "target"),
    [
        ("/api/v1/nodes/n1/proxy/stats/summary", "", "/stats/summary"),
        ("/api/v1/nodes/n1/proxy", "", "/"),
        ("/api/v1/nodes/n1/proxy/", "", "/"),
        ("/api/v1/nodes/proxyhost/proxy/pods", "", "/pods"),
        ("/api/v1/nodes/n1/proxy/containerLogs/ns/p/c", "follow=true", "/containerLogs/ns/p/c?follow=true"),
    ],
)
def test_node_proxy_path(path: str, query: str, target: str) -> None:
    node = path.split("/")[4]
    assert node_proxy_path(path, node, query) == target
