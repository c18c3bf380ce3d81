"""Install a kubeling cluster onto an inventory: ``pyinfra -y INVENTORY deploys/install.py``.

Order (pyinfra runs each operation on every host at once, one after another):

1. preflight on every host (facts only; any failure stops the run before a change);
2. on the deploying machine: the PKI in ``certs/<cluster>/`` (``kubeling pki init``)
   and the images + wheelhouse (``kubeling image build`` / ``save``, reused when current);
3. on every node: packages, kernel settings, dockerd; the node's certificates and
   kubeconfigs; images loaded, kubeling's venv;
4. etcd members (TLS, initial cluster from the ``etcd`` group);
5. control planes: static pods; with several control planes, every node: ``kubeling lb``
   (workers reach the API through it: docs/deploy.md); every node: the kubelet (which runs
   the static pods);
6. from the deploying machine: wait for the API, apply the addons, wait for every
   node Ready, label control planes, write the admin kubeconfig next to the inventory.

A second run changes nothing (pyinfra's results show no "Success" column entries).
"""

from pyinfra.api.exceptions import DeployError

from deploys.cluster import ClusterError
from deploys.tasks import artifacts, context, preflight
from deploys.tasks.addons import addons
from deploys.tasks.control_plane import control_plane
from deploys.tasks.etcd import etcd
from deploys.tasks.images_and_venv import images_and_venv
from deploys.tasks.kubeconfig import admin_kubeconfig
from deploys.tasks.kubelet import kubelet
from deploys.tasks.lb import lb
from deploys.tasks.pki import pki
from deploys.tasks.prerequisites import prerequisites

try:
    cluster = context.cluster()
    node = context.node()
except ClusterError as exc:
    raise DeployError(f"inventory: {exc}") from None

if node is not None:
    preflight.run(cluster)
    try:
        certs = artifacts.ensure_pki(cluster)
        shipment = artifacts.ensure_shipment(cluster.version)
    except artifacts.ArtifactError as exc:
        raise DeployError(str(exc)) from None

    prerequisites(cluster, node)
    certificates = pki(cluster, node, certs)
    venv = images_and_venv(cluster, shipment)
    if node.etcd and cluster.datastore == "etcd":
        etcd(cluster, node, certificates)
    if node.control_plane:
        control_plane(cluster, node, certs)
    if cluster.ha:
        lb(cluster, node, [venv])
    kubelet(cluster, node, [*certificates, venv])
    if context.is_first_control_plane():
        target = context.admin_kubeconfig_path()
        admin_kubeconfig(cluster, certs, target)
        addons(cluster, target)
else:
    pass  # a host in none of the groups (e.g. a bastion) gets nothing
