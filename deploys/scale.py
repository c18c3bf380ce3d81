"""Add the inventory's new nodes to a running cluster: ``pyinfra -y INVENTORY deploys/scale.py``.

A new node is a host of the inventory's groups that is not yet a Node of the
cluster (asked once, before any change, with the admin kubeconfig next to the
inventory).  Only new nodes are touched: preflight, prerequisites, their own
certificates and kubeconfigs (``kubeling pki init`` issues what is missing and
keeps every existing file byte for byte, so nothing else is re-issued), images
and venv, ``kubeling lb`` with several control planes, the kubelet; then the
run waits for them to be Ready.  Existing nodes get no operation and restart
nothing; the DaemonSets (kube-proxy, hostgw) reach the new node by themselves,
and hostgw's agents on the other nodes add its pod route.  A second run finds
no new node and changes nothing.  New control planes are refused: joining an
etcd member and an apiserver to a running cluster is not built (see docs/deploy.md).
"""

from pyinfra.api.exceptions import DeployError

from deploys.cluster import ClusterError
from deploys.tasks import artifacts, context, preflight
from deploys.tasks.addons import api_step
from deploys.tasks.images_and_venv import images_and_venv
from deploys.tasks.kubelet import kubelet
from deploys.tasks.lb import lb
from deploys.tasks.nodes import existing_nodes
from deploys.tasks.pki import pki
from deploys.tasks.prerequisites import prerequisites

try:
    cluster = context.cluster()
    node = context.node()
except ClusterError as exc:
    raise DeployError(f"inventory: {exc}") from None

admin = context.admin_kubeconfig_path()
if node is not None and node.name not in existing_nodes(admin):
    if node.control_plane or node.etcd:
        raise DeployError(
            f"{node.name}: scale.py adds workers (kube_node); adding a control plane or etcd member"
            " to a running cluster is not supported"
        )
    preflight.run(cluster)
    try:
        certs = artifacts.ensure_pki(cluster)
        shipment = artifacts.ensure_shipment(cluster.version)
    except artifacts.ArtifactError as exc:
        raise DeployError(str(exc)) from None
    prerequisites(cluster, node)
    certificates = pki(cluster, node, certs)
    venv = images_and_venv(cluster, shipment)
    if cluster.ha:
        lb(cluster, node, [venv])
    kubelet(cluster, node, [*certificates, venv])
    api_step(
        name=f"{node.name} Ready",
        step="wait-nodes",
        kubeconfig=str(admin),
        args=["--nodes", node.name],
        wait=True,
    )
