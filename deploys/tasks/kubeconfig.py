"""The admin kubeconfig, written on the deploying machine next to the inventory (0600), pointing
at the first control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pyinfra.api import FunctionCommand, deploy, operation

from deploys.cluster import Cluster
from deploys.tasks.artifacts import kubeconfig_for


def _write(path: Path, content: bytes) -> None:
    from kubeling.pki.certs import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, content, 0o600)


@operation()
def local_file(path: str, content: bytes) -> Iterator[FunctionCommand]:
    """A file on the deploying machine with ``content`` and mode 0600.

    + path: e.g. ``inventories/lab.kubeconfig``
    + content: the bytes it should hold
    """
    target = Path(path)
    try:
        same = target.read_bytes() == content and target.stat().st_mode & 0o777 == 0o600
    except FileNotFoundError:
        same = False
    if not same:
        yield FunctionCommand(_write, (target, content), {})


@deploy("kubeling admin kubeconfig")
def admin_kubeconfig(cluster: Cluster, source: Path, target: Path) -> None:
    local_file(
        name=f"admin kubeconfig {target}",
        path=str(target),
        content=kubeconfig_for(cluster, source / "admin.conf", cluster.admin_url),
    )
