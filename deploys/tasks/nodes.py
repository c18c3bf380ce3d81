"""What scale.py and remove_node.py ask the running cluster, as pyinfra operations.

The Nodes the cluster already has are read once per run (before any change)
from the deploying machine with the admin kubeconfig; ``node_step`` runs a
step of ``deploys.tasks.nodes_api`` (drain, delete-node) in its own process,
and only when its ``--check`` says something differs, so a second run yields
nothing.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import DeployError, OperationError

from deploys.cluster import ROOT

DRAIN_TIMEOUT = 600.0


def _run(step: str, kubeconfig: Path, *args: str, timeout: float = 60.0) -> str:
    argv = [sys.executable, "-m", "deploys.tasks.nodes_api", step, "--kubeconfig", str(kubeconfig), *args]
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise OperationError(f"{step}: no answer within {timeout + 60:.0f}s") from None
    if done.returncode:
        raise OperationError((done.stderr or done.stdout).strip() or f"{step} failed")
    return done.stdout.strip()


@functools.cache
def existing_nodes(kubeconfig: Path) -> frozenset[str]:
    """The cluster's Node names now (asked once per run); DeployError when the API cannot say."""
    if not kubeconfig.exists():
        raise DeployError(f"{kubeconfig} does not exist: install the cluster first (deploys/install.py)")
    try:
        return frozenset(_run("list-nodes", kubeconfig).split())
    except OperationError as exc:
        raise DeployError(f"cannot list the cluster's nodes with {kubeconfig}: {exc}") from None


def _act(step: str, kubeconfig: Path, node: str, timeout: float) -> None:
    _run(step, kubeconfig, "--node", node, "--timeout", str(timeout), timeout=timeout)


@operation()
def node_step(
    step: str, kubeconfig: str, node: str, timeout: float = DRAIN_TIMEOUT
) -> Iterator[FunctionCommand]:
    """Run ``step`` of ``deploys.tasks.nodes_api`` for ``node`` if its check says it would change.

    + step: ``drain`` or ``delete-node``
    + kubeconfig: the admin kubeconfig on the deploying machine, e.g. ``inventories/lab.kubeconfig``
    + node: the Node's name, e.g. ``lab-worker-2``
    + timeout: seconds a drain may take before the run stops
    """
    path = Path(kubeconfig)
    verdict = _run(step, path, "--node", node, "--check")
    if verdict == "changed":
        yield FunctionCommand(_act, (step, path, node, timeout), {})
    else:
        host.noop(f"{step} {node}: nothing to do")
