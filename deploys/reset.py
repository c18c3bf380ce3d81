"""Wipe kubeling from an inventory's hosts: ``pyinfra -y INVENTORY deploys/reset.py``.

Afterwards ``install.py`` runs as on fresh hosts (packages stay installed).
Removed on every host of the cluster's groups: the kubelet and its unit (and
``kubeling-lb``'s), every pod container (label ``io.kubeling.node`` or name
``k8s_*``), etcd's member data and ``/etc/default/etcd`` (etcd stopped and
disabled), ``/etc/kubernetes``, ``/var/lib/kubelet``, ``/etc/cni/net.d`` and
CNI state (``/var/lib/cni``, the ``cni0`` bridge), kubeling's iptables chains
and rules (``KUBE-*``, ``KUBELING-*``, ``CNI-*``), hostgw's pod routes (proto
77), sysctl/modules files and kubeling's venv. With group data
``reset_images = True`` also the shipped tarballs and the loaded images.
The deploying machine's ``certs/<cluster>/`` and admin kubeconfig are kept
(delete them yourself to start a new PKI).
"""

from pyinfra import host
from pyinfra.operations import files, server, systemd

from deploys.cluster import CNI_CONF_DIR, ETC, ETCD_DATA_DIR, KUBELET_DIR, OPT, VENV
from deploys.tasks.context import node
from deploys.tasks.prerequisites import MODULES_FILE, SYSCTL_FILE

HOSTGW_ROUTE_PROTO = 77
KUBELING_RULES = r"KUBE-|KUBELING-|CNI-|cni0|kubeling"
UNITS = ("kubelet", "kubeling-lb")

if node() is not None:
    server.shell(
        name="kubelet and kubeling-lb stopped",
        commands=[
            f"systemctl disable --now {unit} 2>/dev/null || true; rm -f /etc/systemd/system/{unit}.service"
            for unit in UNITS
        ],
    )
    systemd.daemon_reload(name="systemd reloaded")
    server.shell(
        name="pod containers removed",
        commands=[
            "if command -v docker >/dev/null; then "
            "ids=$( (docker ps -aq --filter label=io.kubeling.node;"
            " docker ps -aq --filter name=^k8s_) | sort -u); "
            '[ -z "$ids" ] || docker rm -f $ids >/dev/null; fi',
        ],
    )
    server.shell(
        name="etcd member removed",
        commands=[
            "systemctl disable --now etcd 2>/dev/null || true",
            f"rm -rf {ETCD_DATA_DIR} /etc/default/etcd",
        ],
    )
    server.shell(
        name="kubeling's iptables rules removed",
        commands=[
            f"for table in filter nat mangle; do iptables-save -t $table | grep -vE '{KUBELING_RULES}' "
            "| iptables-restore -T $table 2>/dev/null || true; done",
        ],
    )
    server.shell(
        name="pod routes and the CNI bridge removed",
        commands=[
            f"ip route flush proto {HOSTGW_ROUTE_PROTO} 2>/dev/null || true",
            "ip link delete cni0 2>/dev/null || true",
        ],
    )
    server.shell(
        name="pod volumes unmounted",
        # Secret and projected volumes are tmpfs mounts under the kubelet's directory: they must
        # go before it can (deepest first), as kubeadm reset unmounts them.
        commands=[
            f"awk '$2 ~ \"^{KUBELET_DIR}/\" {{print $2}}' /proc/mounts | sort -r"
            " | xargs -r -n1 umount -l 2>/dev/null || true",
        ],
    )
    for path in (ETC, KUBELET_DIR, CNI_CONF_DIR, "/var/lib/cni", VENV):
        files.directory(name=f"{path} removed", path=path, present=False)
    for path in (SYSCTL_FILE, MODULES_FILE):
        files.file(name=f"{path} removed", path=path, present=False)
    if host.data.get("reset_images"):
        server.shell(
            name="shipped images removed",
            commands=[
                "docker images -q 'kubeling/*' | xargs -r docker rmi -f >/dev/null || true",
                f"rm -rf {OPT}",
            ],
        )
