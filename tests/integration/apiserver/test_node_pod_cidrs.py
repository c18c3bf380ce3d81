"""spec.podCIDR and spec.podCIDRs through kubectl: kept equal, and set once."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration


def _node(name: str, spec: dict) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec})


def _spec(srv: KubelingServer, name: str) -> dict:
    spec = json.loads(kubectl(srv, "get", "node", name, "-o", "json").stdout)["spec"]
    return {k: v for k, v in spec.items() if k.startswith("podCIDR")}  # admission adds a taint


def test_pod_cidr_fills_pod_cidrs_and_cannot_change(bare_server: KubelingServer) -> None:
    name = f"cidr-{uuid.uuid4().hex[:6]}"
    kubectl(bare_server, "create", "-f", "-", input=_node(name, {"podCIDR": "10.244.7.0/24"}))
    try:
        assert _spec(bare_server, name) == {"podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]}

        changed = kubectl(
            bare_server, "patch", "node", name, "-p", '{"spec":{"podCIDR":"10.244.8.0/24"}}', check=False
        )
        assert changed.returncode != 0
        assert "spec.podCIDRs: Forbidden: node updates may not change podCIDR" in changed.stderr
        assert _spec(bare_server, name)["podCIDR"] == "10.244.7.0/24"
    finally:
        kubectl(bare_server, "delete", "node", name, "--wait=false")


def test_pod_cidrs_fill_pod_cidr_once_assigned(bare_server: KubelingServer) -> None:
    name = f"cidr-{uuid.uuid4().hex[:6]}"
    kubectl(bare_server, "create", "-f", "-", input=_node(name, {}))
    try:
        cidrs = '{"spec":{"podCIDRs":["10.244.9.0/24","fd00:9::/64"]}}'
        kubectl(bare_server, "patch", "node", name, "-p", cidrs)
        assert _spec(bare_server, name) == {
            "podCIDR": "10.244.9.0/24",
            "podCIDRs": ["10.244.9.0/24", "fd00:9::/64"],
        }
        same_family = '{"spec":{"podCIDRs":["10.244.9.0/24","10.244.10.0/24"]}}'
        refused = kubectl(bare_server, "patch", "node", name, "-p", same_family, check=False)
        assert (
            refused.returncode != 0
            and "may specify no more than one CIDR for each IP family" in refused.stderr
        )
    finally:
        kubectl(bare_server, "delete", "node", name, "--wait=false")
