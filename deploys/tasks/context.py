"""The cluster of the running pyinfra inventory, built once per deploy run, and this host's node."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from pyinfra import host, inventory

from deploys.cluster import Cluster, Node, from_hosts

SETTINGS = (
    "kubeling_version",
    "cluster_name",
    "service_cidr",
    "cluster_cidr",
    "cluster_domain",
    "datastore",
    "addons",
)


def _host_data(h: Any) -> dict[str, Any]:
    return {key: h.data.get(key) for key in ("node_name", "node_ip", "ssh_hostname")}


@functools.cache
def _cluster(inventory_id: int) -> Cluster:
    hosts = list(inventory)
    settings = {key: hosts[0].data.get(key) for key in SETTINGS} if hosts else {}
    return from_hosts([(h.name, _host_data(h), set(h.groups)) for h in hosts], settings)


def cluster() -> Cluster:
    return _cluster(id(inventory))


def node() -> Node | None:
    """This host's node, or None for a host in none of the cluster's groups."""
    name = host.data.get("node_name") or host.name
    for candidate in cluster().nodes:
        if candidate.name == name:
            return candidate
    return None


def is_first_control_plane() -> bool:
    current = node()
    return current is not None and current == cluster().control_planes[0]


def admin_kubeconfig_path() -> Path:
    """Where the admin kubeconfig goes: group data ``admin_kubeconfig``, else next to the
    inventory file as ``<inventory>.kubeconfig`` (``inventories/lab.py`` → ``inventories/lab.kubeconfig``)."""
    explicit = host.data.get("admin_kubeconfig")
    if explicit:
        return Path(explicit).expanduser().resolve()
    # The pyinfra CLI's first existing .py argument is the inventory (the deploy comes after it).
    for arg in sys.argv[1:]:
        if arg.endswith(".py") and Path(arg).is_file():
            return Path(arg).resolve().with_suffix(".kubeconfig")
    return Path.cwd() / f"{cluster().name}.kubeconfig"
