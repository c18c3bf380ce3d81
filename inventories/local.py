"""This machine alone: control plane, etcd member and node.

Run ``pyinfra inventories/local.py deploys/install.py``.
``@local`` runs every operation here without SSH; the node's InternalIP is the
address of the default-route interface, found when the inventory loads.
"""

import socket


def _default_route_ip() -> str:
    # A UDP "connection" sends nothing; it only asks the kernel which source address it would use.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]


_host = ("@local", {"node_name": socket.gethostname().lower(), "node_ip": _default_route_ip()})

kube_control_plane = [_host]
etcd = [_host]
kube_node = [_host]
