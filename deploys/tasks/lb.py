"""``kubeling lb`` on every node of a cluster with several control planes: a systemd unit from the
venv (it must run before the kubelet can reach the API, so not a static pod of that kubelet).
Restarted when its unit or kubeling changed; the kubelet reconnects through it within seconds."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys.cluster import Cluster, Node, render

UNIT_NAME = "kubeling-lb"
UNIT = f"/etc/systemd/system/{UNIT_NAME}.service"


@deploy("kubeling apiserver load balancer")
def lb(cluster: Cluster, node: Node, inputs: list[OperationMeta]) -> None:
    unit = files.put(
        name=UNIT, src=StringIO(render("kubeling-lb.service.j2", cluster, node)), dest=UNIT, mode="644"
    )
    systemd.daemon_reload(name="systemd reloaded for the balancer", _if=unit.did_change)
    systemd.service(
        name=f"{UNIT_NAME} restarted on new settings",
        service=UNIT_NAME,
        restarted=True,
        _if=any_changed(unit, *inputs),
    )
    systemd.service(name=f"{UNIT_NAME} running", service=UNIT_NAME, running=True, enabled=True)
