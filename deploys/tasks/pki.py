"""The cluster PKI, made on the deploying machine (``certs/<cluster>/``), shipped to each host.

Each host gets only what it uses: every node its kubelet identity and serving
pair plus the cluster CA certificate; control planes the apiserver's,
front-proxy and ServiceAccount material and the components' kubeconfigs;
etcd members their member pair as ``etcd/server.*``/``peer.*``, owned by the
``etcd`` user the package runs as. Keys and kubeconfigs are 0600. Of the CA
keys only the cluster CA's goes to control planes (csrsigning needs it); the
others stay on the deploying machine. Kubeconfigs are re-pointed per host (see
``deploys/cluster.py``).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from deploys.cluster import ETC, LOOPBACK_URL, PKI, Cluster, Node
from deploys.tasks.artifacts import kubeconfig_for

PUBLIC, SECRET = "644", "600"


def files_for(cluster: Cluster, node: Node, source: Path) -> list[tuple[Path, str, str, str]]:
    """(local file, remote path, mode, owner) of everything ``node`` receives."""
    out = [
        (source / "ca.crt", f"{PKI}/ca.crt", PUBLIC, "root"),
        (source / "kubelet" / f"{node.name}.crt", f"{PKI}/kubelet/{node.name}.crt", PUBLIC, "root"),
        (source / "kubelet" / f"{node.name}.key", f"{PKI}/kubelet/{node.name}.key", SECRET, "root"),
    ]
    if node.control_plane:
        for stem in ("apiserver", "apiserver-kubelet-client", "front-proxy-client", "apiserver-etcd-client"):
            out.append((source / f"{stem}.crt", f"{PKI}/{stem}.crt", PUBLIC, "root"))
            out.append((source / f"{stem}.key", f"{PKI}/{stem}.key", SECRET, "root"))
        out += [
            # The controller-manager's csrsigning signs kubelets' CSRs with it (kubeadm ships it too).
            (source / "ca.key", f"{PKI}/ca.key", SECRET, "root"),
            (source / "front-proxy-ca.crt", f"{PKI}/front-proxy-ca.crt", PUBLIC, "root"),
            (source / "sa.key", f"{PKI}/sa.key", SECRET, "root"),
            (source / "sa.pub", f"{PKI}/sa.pub", PUBLIC, "root"),
        ]
    if node.control_plane or node.etcd:
        out.append((source / "etcd" / "ca.crt", f"{PKI}/etcd/ca.crt", PUBLIC, "root"))
    if node.etcd and cluster.datastore == "etcd":
        member = source / "etcd" / node.name
        for kind in ("server", "peer"):
            out.append((member / f"{kind}.crt", f"{PKI}/etcd/{kind}.crt", PUBLIC, "etcd"))
            out.append((member / f"{kind}.key", f"{PKI}/etcd/{kind}.key", SECRET, "etcd"))
        for suffix, mode in ((".crt", PUBLIC), (".key", SECRET)):
            out.append(
                (
                    source / "etcd" / f"healthcheck-client{suffix}",
                    f"{PKI}/etcd/healthcheck-client{suffix}",
                    mode,
                    "root",
                )
            )
    return out


def kubeconfigs_for(cluster: Cluster, node: Node, source: Path) -> list[tuple[bytes, str]]:
    """(content, remote path) of the node's kubeconfigs, each pointed where this host reaches the API."""
    out = [(kubeconfig_for(cluster, source / f"kubelet-{node.name}.conf", cluster.apiserver_url_for(node)),
            f"{ETC}/kubelet.conf")]  # fmt: skip
    if node.control_plane:
        for name in ("controller-manager.conf", "scheduler.conf", "admin.conf"):
            out.append((kubeconfig_for(cluster, source / name, LOOPBACK_URL), f"{ETC}/{name}"))
    return out


@deploy("kubeling PKI")
def pki(cluster: Cluster, node: Node, source: Path) -> list[OperationMeta]:
    """Ship the node's files; returns the operations, so services restart when theirs changed."""
    changes = []
    for local, remote, mode, owner in files_for(cluster, node, source):
        changes.append(
            files.put(name=f"{remote}", src=str(local), dest=remote, mode=mode, user=owner, group=owner)
        )
    for content, remote in kubeconfigs_for(cluster, node, source):
        changes.append(files.put(name=remote, src=BytesIO(content), dest=remote, mode=SECRET))
    return changes
