"""The etcd cluster: Debian's etcd-server on every host of the ``etcd`` group, TLS for peers and
clients, initial cluster from the inventory, data in its own directory (not the package's default
member). Restarted only when its configuration or certificates changed; members of a new cluster
start in parallel (pyinfra runs one operation on all hosts at once), so they find their quorum."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys.cluster import ETCD_DATA_DIR, Cluster, Node, render

DEFAULTS_FILE = "/etc/default/etcd"


@deploy("kubeling etcd")
def etcd(cluster: Cluster, node: Node, certificates: list[OperationMeta]) -> None:
    config = files.put(
        name=DEFAULTS_FILE,
        src=StringIO(render("etcd.default.j2", cluster, node)),
        dest=DEFAULTS_FILE,
        mode="644",
    )
    data = files.directory(name=ETCD_DATA_DIR, path=ETCD_DATA_DIR, user="etcd", group="etcd", mode="700")
    systemd.service(
        name="etcd restarted on new settings",
        service="etcd",
        restarted=True,
        _if=any_changed(config, data, *certificates),
    )
    systemd.service(name="etcd running", service="etcd", running=True, enabled=True)
