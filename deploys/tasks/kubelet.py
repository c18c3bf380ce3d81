"""The kubelet as a systemd unit running the venv's ``kubeling kubelet`` with the node's own
identity (``kubelet.conf`` from the PKI's ``kubelet-<node>.conf``). Restarted when its unit, its
config, its kubeconfig or certificates, or kubeling itself changed."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from deploys.cluster import CNI_CONF_DIR, KUBELET_DIR, MANIFESTS, Cluster, Node, render

UNIT = "/etc/systemd/system/kubelet.service"


@deploy("kubeling kubelet")
def kubelet(cluster: Cluster, node: Node, inputs: list[OperationMeta]) -> None:
    files.directory(name=CNI_CONF_DIR, path=CNI_CONF_DIR, mode="755")
    files.directory(name=MANIFESTS, path=MANIFESTS, mode="755")
    config = files.put(
        name=f"{KUBELET_DIR}/config.yaml",
        src=StringIO(render("kubelet-config.yaml.j2", cluster, node)),
        dest=f"{KUBELET_DIR}/config.yaml",
        mode="644",
    )
    unit = files.put(
        name=UNIT, src=StringIO(render("kubelet.service.j2", cluster, node)), dest=UNIT, mode="644"
    )
    systemd.daemon_reload(name="systemd reloaded for the new unit", _if=unit.did_change)
    systemd.service(
        name="kubelet restarted on new settings",
        service="kubelet",
        restarted=True,
        _if=any_changed(config, unit, *inputs),
    )
    systemd.service(name="kubelet running", service="kubelet", running=True, enabled=True)
