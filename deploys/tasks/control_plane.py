"""Control-plane static pods: the kubelet runs what ``/etc/kubernetes/manifests`` holds and
restarts a pod whose manifest changed (so nothing here restarts anything).

Every manifest carries the ``kubeling.io/certificates-hash`` annotation of the certificates
the node received, as ``rotate_certs.py`` writes it: install, upgrade and rotation then write
the same bytes for the same certificates, so none of them restarts a pod another already runs.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import files

from deploys.cluster import MANIFESTS, Cluster, Node

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def manifest(cluster: Cluster, node: Node, component: str, certs: Path) -> str:
    """The static-pod manifest of ``component`` for ``node``, annotated with its certificates' hash."""
    from deploys.tasks.certs import annotated_manifest, certificates_hash

    content, _uid = annotated_manifest(cluster, node, component, certificates_hash(cluster, node, certs))
    return content.decode()


@deploy("kubeling control plane")
def control_plane(cluster: Cluster, node: Node, certs: Path) -> None:
    files.directory(name=MANIFESTS, path=MANIFESTS, mode="755")
    for component in COMPONENTS:
        files.put(
            name=f"{MANIFESTS}/{component}.yaml",
            src=BytesIO(manifest(cluster, node, component, certs).encode()),
            dest=f"{MANIFESTS}/{component}.yaml",
            mode="600",
        )
