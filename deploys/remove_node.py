"""Remove one node from a running cluster: ``pyinfra -y INVENTORY deploys/remove_node.py --data node=NAME``.

On that host only, in order: cordon and drain it through the eviction API
(PodDisruptionBudgets are honoured: a refused eviction is retried every few
seconds; DaemonSet and mirror pods stay, as ``kubectl drain --ignore-daemonsets``),
delete its Node object, then wipe it with ``deploys/reset.py``'s operations.
Take the host out of the inventory afterwards.  A second run finds no Node and
a clean host and changes nothing.  Control planes are refused (removing an etcd
member is not built).
"""

from pyinfra import host, local
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import Directory, File

from deploys.cluster import ETC, KUBELET_DIR, ClusterError
from deploys.tasks import context
from deploys.tasks.kubelet import UNIT
from deploys.tasks.nodes import existing_nodes, node_step

target = str(host.data.get("node") or "")
if not target:
    raise DeployError("which node? pyinfra -y INVENTORY deploys/remove_node.py --data node=NAME")
try:
    cluster = context.cluster()
    victim = cluster.node(target)
except ClusterError as exc:
    raise DeployError(f"inventory: {exc}") from None
if victim.control_plane or victim.etcd:
    raise DeployError(f"{target} is a control plane: remove_node.py removes workers only")

node = context.node()
if node is not None and node.name == target:
    admin = str(context.admin_kubeconfig_path())
    registered = target in existing_nodes(context.admin_kubeconfig_path())
    if registered:
        node_step(name=f"{target} cordoned and drained", step="drain", kubeconfig=admin, node=target)
        node_step(name=f"Node {target} deleted", step="delete-node", kubeconfig=admin, node=target)
    leftovers = host.get_fact(Directory, path=ETC) or host.get_fact(Directory, path=KUBELET_DIR)
    if registered or leftovers or host.get_fact(File, path=UNIT):
        local.include("deploys/reset.py")
    else:
        host.noop(f"{target} is clean")
