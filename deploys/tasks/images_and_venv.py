"""Images and kubeling itself, with no registry and no index on the hosts.

The deploying machine's ``kubeling image save`` output (``artifacts.Shipment``)
is uploaded to ``/opt/kubeling/images/*.tar`` and ``/opt/kubeling/wheelhouse.tar``
(uploads compare SHA-1s, so an unchanged file is not sent again); a tarball is
``docker load``ed only when the engine lacks that image ID; the venv at
``/opt/kubeling/venv`` is rebuilt from the wheelhouse only when it changed.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from deploys.cluster import IMAGES_DIR, OPT, VENV, Cluster
from deploys.tasks.artifacts import Shipment
from deploys.tasks.ops import images_loaded, venv_installed


@deploy("kubeling images and venv")
def images_and_venv(cluster: Cluster, shipment: Shipment) -> OperationMeta:
    """Returns the venv operation (the kubelet restarts when kubeling changed)."""
    remote = {}
    for ref, tarball in shipment.tarballs.items():
        remote[ref] = f"{IMAGES_DIR}/{tarball.name}"
        files.put(name=f"upload {tarball.name}", src=str(tarball), dest=remote[ref], mode="644")
    images_loaded(name="images loaded into dockerd", images=shipment.images, tarballs=remote)
    wheels = f"{OPT}/wheelhouse.tar"
    files.put(name="upload wheelhouse.tar", src=str(shipment.wheelhouse_tar), dest=wheels, mode="644")
    return venv_installed(
        name=f"kubeling {cluster.version} in {VENV}",
        venv=VENV,
        wheelhouse_tar=wheels,
        version=cluster.version,
        stamp=shipment.wheelhouse_stamp,
    )
