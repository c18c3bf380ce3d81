"""The parts of an upgrade before any node changes: the plan's verdict and the target shipped.

The plan is asked once per run (pyinfra prepares hosts in parallel greenlets;
the first asks, the others find the answer), through
``deploys/tasks/upgrade_api.py plan`` in its own process; a refusal stops the
deploy before it changes anything, with the plan's table and reasons.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from pathlib import Path

from pyinfra import logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files

from deploys.cluster import IMAGES_DIR, ROOT, Cluster
from deploys.tasks.artifacts import Shipment
from deploys.tasks.ops import images_loaded
from deploys.tasks.upgrade import wheelhouse_of

_asking = threading.Lock()


def checked_plan(kubeconfig: Path, target: str) -> str:
    """The plan's table; a DeployError (with the table and reasons) when it is refused."""
    with _asking:
        return _checked_plan(str(kubeconfig), target)


@functools.cache
def _checked_plan(kubeconfig: str, target: str) -> str:
    argv = [sys.executable, "-m", "deploys.tasks.upgrade_api", "plan", "--kubeconfig", kubeconfig]
    try:
        done = subprocess.run(
            [*argv, "--target", target], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        raise DeployError(f"upgrade plan: the API at {kubeconfig} did not answer within 120s") from None
    if done.returncode:
        raise DeployError(f"upgrade plan:\n{(done.stderr or done.stdout).strip()}")
    logger.info(f"upgrade plan:\n{done.stdout.strip()}")
    return done.stdout


@deploy("kubeling target version shipped")
def target_shipped(cluster: Cluster, shipment: Shipment) -> None:
    """The target's images loaded and its wheelhouse on the host; nothing running is touched."""
    remote = {}
    for ref, tarball in shipment.tarballs.items():
        remote[ref] = f"{IMAGES_DIR}/{tarball.name}"
        files.put(name=f"upload {tarball.name}", src=str(tarball), dest=remote[ref], mode="644")
    images_loaded(name=f"kubeling {cluster.version} images loaded", images=shipment.images, tarballs=remote)
    wheels = wheelhouse_of(cluster.version)
    files.put(name=f"upload {Path(wheels).name}", src=str(shipment.wheelhouse_tar), dest=wheels, mode="644")
