"""An example HA inventory: 3 control planes (each an etcd member) and 2 workers, over SSH.

Copy it, put your hosts' addresses in, and run
``pyinfra inventories/my-cluster.py deploys/install.py``. The inventory name is
what SSH connects to; ``node_ip`` is the address the cluster uses (InternalIP,
etcd peers); ``node_name`` the Node's name. Workers reach the three apiservers
through a balancer on their own loopback (see docs/deploy.md).
"""

_ssh = {"ssh_user": "root", "ssh_key": "~/.ssh/id_ed25519"}

kube_control_plane = [
    ("192.0.2.11", {**_ssh, "node_name": "cp-1", "node_ip": "192.0.2.11"}),
    ("192.0.2.12", {**_ssh, "node_name": "cp-2", "node_ip": "192.0.2.12"}),
    ("192.0.2.13", {**_ssh, "node_name": "cp-3", "node_ip": "192.0.2.13"}),
]
etcd = list(kube_control_plane)
kube_node = [
    ("192.0.2.21", {**_ssh, "node_name": "worker-1", "node_ip": "192.0.2.21"}),
    ("192.0.2.22", {**_ssh, "node_name": "worker-2", "node_ip": "192.0.2.22"}),
]
