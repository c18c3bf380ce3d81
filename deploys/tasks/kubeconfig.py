"""The admin kubeconfig, written on the deploying machine next to the inventory (0600), pointing
at the first control plane; with several control planes it also holds one context per control
plane, named after its node (``kubectl --context lab-cp-2``), for when the first is down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pyinfra.api import FunctionCommand, deploy, operation

from deploys.cluster import Cluster, Node
from deploys.tasks.artifacts import kubeconfig_for


def _write(path: Path, content: bytes) -> None:
    from kubeling.pki.certs import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, content, 0o600)


@operation()
def local_file(path: str, content: bytes) -> Iterator[FunctionCommand]:
    """A file on the deploying machine with ``content`` and mode 0600.

    + path: e.g. ``inventories/lab.kubeconfig``
    + content: the bytes it should hold
    """
    target = Path(path)
    try:
        same = target.read_bytes() == content and target.stat().st_mode & 0o777 == 0o600
    except FileNotFoundError:
        same = False
    if not same:
        yield FunctionCommand(_write, (target, content), {})


def admin_content(cluster: Cluster, source: Path) -> bytes:
    """The admin kubeconfig's bytes: current context the first control plane, plus in HA a
    context (and cluster entry) per control plane."""
    content = kubeconfig_for(cluster, source / "admin.conf", cluster.admin_url)
    if not cluster.ha:
        return content
    import yaml

    doc = yaml.safe_load(content)
    first_cluster = doc["clusters"][0]
    user = doc["contexts"][0]["context"]["user"]
    for node in cluster.control_planes:
        doc["clusters"].append(_cluster_entry(cluster, node, first_cluster))
        doc["contexts"].append({"name": node.name, "context": {"cluster": node.name, "user": user}})
    return yaml.safe_dump(doc, sort_keys=False).encode()


def _cluster_entry(cluster: Cluster, node: Node, template: dict) -> dict:  # type: ignore[type-arg]
    entry = {**template["cluster"], "server": cluster.url_of(node)}
    return {"name": node.name, "cluster": entry}


@deploy("kubeling admin kubeconfig")
def admin_kubeconfig(cluster: Cluster, source: Path, target: Path) -> None:
    local_file(name=f"admin kubeconfig {target}", path=str(target), content=admin_content(cluster, source))
