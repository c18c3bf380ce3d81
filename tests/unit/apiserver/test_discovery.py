"""Discovery documents built from the registry."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.api.resources import Registry
from kubeling.apiserver import discovery

REGISTRY = Registry()


def by_name(resource_list: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in resource_list["resources"]}


def test_api_versions() -> None:
    assert discovery.api_versions() == {"kind": "APIVersions", "versions": ["v1"]}
    with_address = discovery.api_versions("10.0.0.1:6443")
    assert with_address["serverAddressByClientCIDRs"] == [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}
    ]


def test_api_group_list_has_named_groups_with_preferred_version() -> None:
    body = discovery.api_group_list(REGISTRY)
    assert body["kind"] == "APIGroupList" and body["apiVersion"] == "v1"
    groups = {g["name"]: g for g in body["groups"]}
    assert "" not in groups
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert groups["autoscaling"]["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    # upstream's order: the aggregator's own group, then apps
    assert [g["name"] for g in body["groups"][:2]] == ["apiregistration.k8s.io", "apps"]


def test_api_group() -> None:
    body = discovery.api_group(REGISTRY, "batch")
    assert body == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "batch",
        "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
    }


def test_core_resource_list() -> None:
    body = discovery.api_resource_list(REGISTRY, "", "v1")
    assert body["kind"] == "APIResourceList" and body["groupVersion"] == "v1"
    resources = by_name(body)
    pods = resources["pods"]
    assert pods["singularName"] == "pod" and pods["namespaced"] is True and pods["kind"] == "Pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert set(pods["verbs"]) == {
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    assert pods["storageVersionHash"]
    assert resources["nodes"]["namespaced"] is False
    assert "shortNames" not in resources["secrets"]


@pytest.mark.parametrize(
    ("group", "version", "name", "expected"),
    [
        ("", "v1", "pods/status", {"kind": "Pod", "verbs": ["get", "patch", "update"]}),
        ("", "v1", "pods/log", {"kind": "Pod", "verbs": ["get"]}),
        ("", "v1", "pods/exec", {"kind": "PodExecOptions", "verbs": ["create", "get"]}),
        (
            "",
            "v1",
            "pods/eviction",
            {"kind": "Eviction", "group": "policy", "version": "v1", "verbs": ["create"]},
        ),
        ("", "v1", "pods/binding", {"kind": "Binding", "verbs": ["create"]}),
        ("", "v1", "services/proxy", {"kind": "ServiceProxyOptions"}),
        ("", "v1", "namespaces/finalize", {"kind": "Namespace", "verbs": ["update"], "namespaced": False}),
        ("", "v1", "serviceaccounts/token", {"kind": "TokenRequest", "group": "authentication.k8s.io"}),
        ("apps", "v1", "deployments/scale", {"kind": "Scale", "group": "autoscaling", "version": "v1"}),
        ("apps", "v1", "deployments/status", {"kind": "Deployment", "singularName": ""}),
    ],
    ids=lambda v: v if isinstance(v, str) and "/" in v else None,
)
def test_subresource_entries(group: str, version: str, name: str, expected: dict[str, Any]) -> None:
    entry = by_name(discovery.api_resource_list(REGISTRY, group, version))[name]
    assert {k: entry.get(k) for k in expected} == expected


def test_storage_version_hash_is_shared_by_versions_of_one_resource() -> None:
    v1 = by_name(discovery.api_resource_list(REGISTRY, "autoscaling", "v1"))["horizontalpodautoscalers"]
    v2 = by_name(discovery.api_resource_list(REGISTRY, "autoscaling", "v2"))["horizontalpodautoscalers"]
    pods = by_name(discovery.api_resource_list(REGISTRY, "", "v1"))["pods"]
    assert v1["storageVersionHash"] != pods["storageVersionHash"]
    assert len(v1["storageVersionHash"]) == len(v2["storageVersionHash"]) == 12


def test_aggregated_core() -> None:
    body = discovery.aggregated(REGISTRY, "")
    assert body["kind"] == "APIGroupDiscoveryList" and body["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert len(body["items"]) == 1
    core = body["items"][0]
    assert "name" not in core["metadata"]
    (v1,) = core["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "Pod"}
    eviction = next(s for s in pods["subresources"] if s["subresource"] == "eviction")
    assert eviction["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}


def test_aggregated_groups() -> None:
    items = discovery.aggregated(REGISTRY, "apis")["items"]
    names = [i["metadata"]["name"] for i in items]
    assert "" not in names and names[:2] == ["apiregistration.k8s.io", "apps"]
    autoscaling = items[names.index("autoscaling")]
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    cluster_scoped = next(
        r for i in items for v in i["versions"] for r in v["resources"] if r["resource"] == "clusterroles"
    )
    assert cluster_scoped["scope"] == "Cluster"
