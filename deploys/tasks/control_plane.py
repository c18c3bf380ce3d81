"""Control-plane static pods: the kubelet runs what ``/etc/kubernetes/manifests`` holds and
restarts a pod whose manifest changed (so nothing here restarts anything)."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from deploys.cluster import MANIFESTS, Cluster, Node, render

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@deploy("kubeling control plane")
def control_plane(cluster: Cluster, node: Node) -> None:
    files.directory(name=MANIFESTS, path=MANIFESTS, mode="755")
    for component in COMPONENTS:
        files.put(
            name=f"{MANIFESTS}/{component}.yaml",
            src=StringIO(render(f"{component}.yaml.j2", cluster, node)),
            dest=f"{MANIFESTS}/{component}.yaml",
            mode="600",
        )
