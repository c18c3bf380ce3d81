"""Discovery documents, built from the :class:`~kubeling.api.resources.Registry`.

Legacy discovery (``/api`` → APIVersions, ``/apis`` → APIGroupList,
``/apis/<group>`` → APIGroup, ``/api/v1`` and ``/apis/<group>/<version>`` →
APIResourceList) and aggregated discovery (``apidiscovery.k8s.io/v2``
APIGroupDiscoveryList, one response for the whole of ``/api`` or ``/apis``,
which kubectl asks for first).  Pure functions: the HTTP layer negotiates the
shape and serialises.

Subresources appear as ``pods/status``-style entries in legacy discovery and
nested under their resource in aggregated discovery; one whose object lives in
another group (``deployments/scale`` returns autoscaling/v1 Scale) names that
group and version, as upstream does.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from kubeling.api.resources import Registry, Resource

Obj = dict[str, Any]

_STATUS_VERBS = ("get", "patch", "update")
_CONNECT_VERBS = ("create", "get")
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")


@dataclass(frozen=True)
class SubresourceInfo:
    kind: str | None  # None: the parent's kind
    verbs: tuple[str, ...]
    group: str | None = None  # None: the parent's group-version
    version: str | None = None


_SUBRESOURCES: dict[str, SubresourceInfo] = {
    "status": SubresourceInfo(None, _STATUS_VERBS),
    "scale": SubresourceInfo("Scale", _STATUS_VERBS, "autoscaling", "v1"),
    "binding": SubresourceInfo("Binding", ("create",)),
    "eviction": SubresourceInfo("Eviction", ("create",), "policy", "v1"),
    "log": SubresourceInfo("Pod", ("get",)),
    "exec": SubresourceInfo("PodExecOptions", _CONNECT_VERBS),
    "attach": SubresourceInfo("PodAttachOptions", _CONNECT_VERBS),
    "portforward": SubresourceInfo("PodPortForwardOptions", _CONNECT_VERBS),
    "finalize": SubresourceInfo("Namespace", ("update",)),
    "token": SubresourceInfo("TokenRequest", ("create",), "authentication.k8s.io", "v1"),
}
_PROXY_KINDS = {"pods": "PodProxyOptions", "nodes": "NodeProxyOptions", "services": "ServiceProxyOptions"}


def subresource_info(resource: Resource, sub: str) -> SubresourceInfo:
    if sub == "proxy":
        return SubresourceInfo(
            _PROXY_KINDS.get(resource.plural, f"{resource.kind}ProxyOptions"), _PROXY_VERBS
        )
    return _SUBRESOURCES.get(sub, SubresourceInfo(None, _STATUS_VERBS))


def storage_version_hash(resource: Resource) -> str:
    """Opaque, stable per storage location (clients only compare it)."""
    group = resource.storage_group if resource.storage_group is not None else resource.group
    version = resource.storage_version or resource.version
    digest = hashlib.sha256(f"{group}/{version}/{resource.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


# -- legacy discovery -------------------------------------------------------------------


def api_versions(server_address: str | None = None) -> Obj:
    """``/api``."""
    body: Obj = {"kind": "APIVersions", "versions": ["v1"]}
    if server_address:
        body["serverAddressByClientCIDRs"] = [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    return body


def _group_version(group: str, version: str) -> Obj:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group(registry: Registry, group: str) -> Obj:
    """``/apis/<group>``."""
    versions = registry.group_versions().get(group) or []
    body: Obj = {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_group_version(group, v) for v in versions],
    }
    if versions:
        body["preferredVersion"] = _group_version(group, versions[0])
    return body


def api_group_list(registry: Registry) -> Obj:
    """``/apis``: every named group, preferred version first."""
    groups = []
    for group in registry.group_versions():
        if group:
            entry = api_group(registry, group)
            del entry["kind"], entry["apiVersion"]
            groups.append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _api_resource(resource: Resource) -> Obj:
    entry: Obj = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": sorted(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entry["storageVersionHash"] = storage_version_hash(resource)
    return entry


def _api_subresource(resource: Resource, sub: str) -> Obj:
    info = subresource_info(resource, sub)
    entry: Obj = {
        "name": f"{resource.plural}/{sub}",
        "singularName": "",
        "namespaced": resource.namespaced,
    }
    if info.group is not None:
        entry["group"] = info.group
        entry["version"] = info.version
    entry["kind"] = info.kind or resource.kind
    entry["verbs"] = list(info.verbs)
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> Obj:
    """``/api/v1`` or ``/apis/<group>/<version>``."""
    resources: list[Obj] = []
    for resource in registry.in_group_version(group, version):
        resources.append(_api_resource(resource))
        resources.extend(_api_subresource(resource, sub) for sub in sorted(resource.subresources))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# -- aggregated discovery (apidiscovery.k8s.io/v2) -----------------------------------------


def _aggregated_resource(resource: Resource) -> Obj:
    entry: Obj = {
        "resource": resource.plural,
        "responseKind": {"group": "", "version": "", "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": sorted(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    subs = []
    for sub in sorted(resource.subresources):
        info = subresource_info(resource, sub)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": info.group or "", "version": info.version or "",
                                 "kind": info.kind or resource.kind},
                "verbs": list(info.verbs),
            }
        )  # fmt: skip
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, prefix: str) -> Obj:
    """APIGroupDiscoveryList for ``/api`` (prefix "") or ``/apis`` (prefix "apis")."""
    items = []
    for group, versions in registry.group_versions().items():
        if (group == "") != (prefix == ""):
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None}
                if group
                else {"creationTimestamp": None},
                "versions": [
                    {
                        "version": version,
                        "resources": [
                            _aggregated_resource(r) for r in registry.in_group_version(group, version)
                        ],
                        "freshness": "Current",
                    }
                    for version in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


# -- aggregated APIs (APIServices with a service) ---------------------------------------------


@dataclass(frozen=True)
class AggregatedVersion:
    """One served group-version of an extension apiserver, as discovery shows it."""

    group: str
    version: str
    group_priority: int
    version_priority: int
    # The backend's APIResourceList (None until a discovery check got one) and whether it is current.
    resource_list: Obj | None = None
    fresh: bool = False


def aggregated_groups(versions: list[AggregatedVersion]) -> list[tuple[str, list[AggregatedVersion]]]:
    """Groups by highest groupPriorityMinimum then name; versions by versionPriority then version."""
    from kubeling.api.resources import version_priority

    by_group: dict[str, list[AggregatedVersion]] = {}
    for entry in versions:
        by_group.setdefault(entry.group, []).append(entry)
    ordered = sorted(by_group.items(), key=lambda item: (-max(v.group_priority for v in item[1]), item[0]))
    return [
        (
            group,
            sorted(entries, key=lambda v: (v.version_priority, version_priority(v.version)), reverse=True),
        )
        for group, entries in ordered
    ]


def aggregated_api_group(group: str, versions: list[AggregatedVersion]) -> Obj:
    """``/apis/<group>`` of an aggregated group (versions already in preference order)."""
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_group_version(group, v.version) for v in versions],
        "preferredVersion": _group_version(group, versions[0].version),
    }


def with_aggregated_groups(group_list: Obj, versions: list[AggregatedVersion]) -> Obj:
    """An ``/apis`` APIGroupList with the aggregated groups appended."""
    groups = list(group_list["groups"])
    for group, entries in aggregated_groups(versions):
        entry = aggregated_api_group(group, entries)
        del entry["kind"], entry["apiVersion"]
        groups.append(entry)
    return {**group_list, "groups": groups}


def _discovery_resources(resource_list: Obj) -> list[Obj]:
    """An APIResourceList's resources in aggregated (v2) form, subresources nested."""
    entries = [e for e in resource_list.get("resources") or [] if isinstance(e, dict)]
    resources: dict[str, Obj] = {}
    for entry in entries:
        name = str(entry.get("name") or "")
        if not name or "/" in name:
            continue
        resource: Obj = {
            "resource": name,
            "responseKind": {
                "group": entry.get("group", ""),
                "version": entry.get("version", ""),
                "kind": entry.get("kind", ""),
            },
            "scope": "Namespaced" if entry.get("namespaced") else "Cluster",
            "singularResource": entry.get("singularName", ""),
            "verbs": list(entry.get("verbs") or []),
        }
        for key in ("shortNames", "categories"):
            if entry.get(key):
                resource[key] = list(entry[key])
        resources[name] = resource
    for entry in entries:
        parent, _, sub = str(entry.get("name") or "").partition("/")
        if sub and parent in resources:
            resources[parent].setdefault("subresources", []).append(
                {
                    "subresource": sub,
                    "responseKind": {
                        "group": entry.get("group", ""),
                        "version": entry.get("version", ""),
                        "kind": entry.get("kind", ""),
                    },
                    "verbs": list(entry.get("verbs") or []),
                }
            )
    return list(resources.values())


def with_aggregated_discovery(discovery: Obj, versions: list[AggregatedVersion]) -> Obj:
    """An ``/apis`` APIGroupDiscoveryList with the aggregated groups appended.

    A group-version whose backend did not answer the last check is marked
    ``Stale`` (with the resources it last served, if any), as upstream does.
    """
    items = list(discovery["items"])
    for group, entries in aggregated_groups(versions):
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v.version,
                        "resources": _discovery_resources(v.resource_list or {}),
                        "freshness": "Current" if v.fresh else "Stale",
                    }
                    for v in entries
                ],
            }
        )
    return {**discovery, "items": items}
