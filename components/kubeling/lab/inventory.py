"""The pyinfra inventory of a nodes lab (``inventories/lab.py``): rendered text, written by ``lab up``.

The file is plain pyinfra: kubespray's groups ``kube_control_plane``, ``etcd``
(the control planes: one member each) and ``kube_node`` (the workers), each
host a ``(name, data)`` pair with the SSH settings for the lab (root, the
lab's key, the lab's ``known_hosts`` with strict checking: the host keys were
read from the nodes themselves, so nothing is accepted blindly).  Cluster
settings come from ``inventories/group_data/all.py``, which pyinfra reads for
any inventory in that folder; what differs for a lab sits in the group
:data:`LAB_GROUP`, which outranks ``all``.
"""

from __future__ import annotations

import pprint
from pathlib import Path

from kubeling.lab.nodes import Node, NodesLab, Role

LAB_GROUP = "kubeling_lab"
INVENTORY_DIR = "inventories"


def default_path(root: Path, lab_name: str) -> Path:
    """``inventories/lab.py`` for the lab named ``lab``, ``inventories/lab-<name>.py`` for others."""
    stem = "lab" if lab_name == "lab" else f"lab-{lab_name}"
    return root / INVENTORY_DIR / f"{stem}.py"


def host_data(lab: NodesLab, node: Node) -> dict[str, str]:
    return {
        "ssh_hostname": node.ip,
        "ssh_user": "root",
        "ssh_key": str(lab.key),
        "ssh_known_hosts_file": str(lab.known_hosts),
        "ssh_strict_host_key_checking": "yes",
        "node_ip": node.ip,
    }


def lab_data(lab: NodesLab) -> dict[str, str]:
    return {"cluster_name": lab.spec.name, "lab_dir": str(lab.dir)}


def _group(lab: NodesLab, role: Role) -> str:
    hosts = [(node.name, host_data(lab, node)) for node in lab.nodes if node.role == role]
    return pprint.pformat(hosts, width=100, sort_dicts=False)


def render(lab: NodesLab) -> str:
    names = [node.name for node in lab.nodes]
    return (
        f'"""pyinfra inventory of the kubeling lab {lab.spec.name!r}.\n\n'
        "Written by `kubeling lab up --kind nodes`; `kubeling lab down` removes it. Do not edit.\n"
        '"""\n\n'
        f"kube_control_plane = {_group(lab, Role.CONTROL_PLANE)}\n\n"
        "etcd = kube_control_plane\n\n"
        f"kube_node = {_group(lab, Role.WORKER)}\n\n"
        f"{LAB_GROUP} = ({names!r}, {pprint.pformat(lab_data(lab), sort_dicts=False)})\n"
    )


def write(lab: NodesLab, path: Path) -> Path:
    """Write the inventory and record it in the lab's state (``down`` removes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(lab))
    lab.inventory = path.resolve()
    lab.save()
    return lab.inventory
