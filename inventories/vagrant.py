"""The Vagrant lab (``vagrant/Vagrantfile``): 1 control plane + 2 workers on 192.168.56.0/24.

After ``cd vagrant && vagrant up``: ``pyinfra inventories/vagrant.py deploys/install.py``,
then ``kubeling verify -i inventories/vagrant.py``; the admin kubeconfig is written
to ``inventories/vagrant.kubeconfig``.  The deploy logs in as ``vagrant`` with the
key the Vagrantfile made and uses sudo.  ``node_ip`` is the private network's
address: the VMs' first interface is the provider's NAT, the same on every VM.
"""

from pathlib import Path

_VAGRANT_DIR = Path(__file__).resolve().parents[1] / "vagrant"
_SSH = {
    "ssh_user": "vagrant",
    "ssh_key": str(_VAGRANT_DIR / "id_ed25519"),
    "ssh_known_hosts_file": str(_VAGRANT_DIR / "known_hosts"),
    "ssh_strict_host_key_checking": "accept-new",
    "_sudo": True,
}


def _host(name: str, ip: str) -> tuple[str, dict]:
    return name, {"ssh_hostname": ip, "node_ip": ip, **_SSH}


kube_control_plane = [_host("kubeling-cp-1", "192.168.56.11")]
etcd = kube_control_plane
kube_node = [_host("kubeling-worker-1", "192.168.56.12"), _host("kubeling-worker-2", "192.168.56.13")]
