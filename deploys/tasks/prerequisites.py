"""Packages, kernel settings and a running Docker Engine on every node."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from deploys.cluster import Cluster, Node, render
from deploys.tasks.ops import bridge_netfilter_loaded, packages_present

NODE_PACKAGES = [
    "docker.io",
    "containernetworking-plugins",
    "conntrack",
    "iptables",
    "iproute2",
    "python3-venv",
]
ETCD_PACKAGES = ["etcd-server", "etcd-client"]
SYSCTL_FILE = "/etc/sysctl.d/99-kubeling.conf"
MODULES_FILE = "/etc/modules-load.d/kubeling.conf"
SYSCTLS = {"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1}


@deploy("kubeling prerequisites")
def prerequisites(cluster: Cluster, node: Node) -> None:
    packages_present(
        name="Debian packages",
        packages=NODE_PACKAGES + (ETCD_PACKAGES if node.etcd and cluster.datastore == "etcd" else []),
    )
    files.put(
        name="br_netfilter loaded at boot",
        src=StringIO(render("modules-load-kubeling.conf.j2", cluster, node)),
        dest=MODULES_FILE,
        mode="644",
    )
    bridge_netfilter_loaded(name="br_netfilter loaded now")
    files.put(
        name="sysctls kept across boots",
        src=StringIO(render("sysctl-kubeling.conf.j2", cluster, node)),
        dest=SYSCTL_FILE,
        mode="644",
    )
    for key, value in SYSCTLS.items():
        server.sysctl(name=f"sysctl {key}", key=key, value=value)
    systemd.service(name="dockerd running", service="docker", running=True, enabled=True)
