"""The kinds the dashboard lists and shows, and where each lives in the API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    plural: str
    title: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    scalable: bool = False  # has a scale subresource the UI drives
    restartable: bool = False  # kubectl rollout restart applies

    @property
    def base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        """``/apis/apps/v1/namespaces/ns/deployments/web/scale`` style paths (namespace "" = all)."""
        parts = [self.base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


KINDS: dict[str, Kind] = {
    kind.plural: kind
    for kind in (
        Kind("nodes", "Nodes", namespaced=False),
        Kind("namespaces", "Namespaces", namespaced=False),
        Kind("deployments", "Deployments", "apps", scalable=True, restartable=True),
        Kind("replicasets", "ReplicaSets", "apps", scalable=True),
        Kind("daemonsets", "DaemonSets", "apps", restartable=True),
        Kind("statefulsets", "StatefulSets", "apps", scalable=True, restartable=True),
        Kind("jobs", "Jobs", "batch"),
        Kind("cronjobs", "CronJobs", "batch"),
        Kind("pods", "Pods"),
        Kind("services", "Services"),
        Kind("endpoints", "Endpoints"),
        Kind("configmaps", "ConfigMaps"),
        Kind("secrets", "Secrets"),
        Kind("events", "Events"),
    )
}

# The order of the navigation bar.
NAVIGATION = (
    "deployments", "replicasets", "daemonsets", "statefulsets", "jobs", "cronjobs", "pods",
    "services", "endpoints", "configmaps", "secrets", "events", "nodes", "namespaces",
)  # fmt: skip
WORKLOADS = ("deployments", "replicasets", "daemonsets", "statefulsets", "jobs", "cronjobs", "pods")
