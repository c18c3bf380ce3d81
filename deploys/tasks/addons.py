"""From the deploying machine, once the hosts are set up: wait for the API, apply the addons,
wait for every node to be Ready, label the control planes (kubeadm's role label).

Attached to the first control plane only. Each step is an operation that asks
``deploys.tasks.api`` (in its own process) whether anything differs, and
yields a command only then; waiting changes nothing, so it yields none.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from pyinfra import host
from pyinfra.api import FunctionCommand, deploy, operation
from pyinfra.api.exceptions import OperationError

from deploys.cluster import ROOT, Cluster

API_TIMEOUT = 300.0


def _step(step: str, kubeconfig: Path, *args: str, check: bool = False, timeout: float = 60.0) -> str:
    argv = [sys.executable, "-m", "deploys.tasks.api", step, "--kubeconfig", str(kubeconfig), *args]
    if check:
        argv.append("--check")
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise OperationError(f"{step}: no answer within {timeout + 60:.0f}s") from None
    if done.returncode:
        raise OperationError((done.stderr or done.stdout).strip() or f"{step} failed")
    return done.stdout.strip()


def _run_step(step: str, kubeconfig: Path, *args: str) -> None:
    _step(step, kubeconfig, *args)


@operation()
def api_step(step: str, kubeconfig: str, args: list[str], wait: bool = False) -> Iterator[FunctionCommand]:
    """Run a step of ``deploys.tasks.api`` if its check says something differs.

    + step: ``addons`` or ``label-control-planes`` (changing), ``wait-api``/``wait-nodes`` (waiting)
    + kubeconfig: the admin kubeconfig on the deploying machine
    + args: the step's own arguments, e.g. ``["--nodes", "cp-1"]``
    + wait: a waiting step: run only while executing, never a change
    """
    path = Path(kubeconfig)
    executing = host.state.is_executing
    if wait:
        if executing:
            _step(step, path, *args, timeout=API_TIMEOUT)
        return
    if not executing:
        # Preparing: the API may not exist yet; ask briefly, and assume a change if it cannot tell.
        try:
            verdict = _step(step, path, *args, "--timeout", "3", check=True, timeout=5)
        except OperationError:
            verdict = "changed"
    else:
        verdict = _step(step, path, *args, check=True)
    if verdict == "changed":
        yield FunctionCommand(_run_step, (step, path, *args), {})


def addon_values(cluster: Cluster) -> dict[str, object]:
    from kubeling.addons import AddonValues

    values = AddonValues(
        image=cluster.image,
        apiserver_url=cluster.proxy_apiserver_url,
        service_cidr=cluster.service_cidr,
        cluster_cidr=cluster.cluster_cidr,
        cluster_domain=cluster.cluster_domain,
    )
    return asdict(values)


def usable_addons(cluster: Cluster) -> list[str]:
    """The group data's addons that have a template (hostgw may not exist in older checkouts)."""
    from kubeling.addons import available

    known = set(available())
    return [name for name in cluster.addons if name in known]


@deploy("kubeling addons")
def addons(cluster: Cluster, admin_kubeconfig: Path) -> None:
    kubeconfig = str(admin_kubeconfig)
    api_step(name="API answers", step="wait-api", kubeconfig=kubeconfig, args=[], wait=True)
    names = usable_addons(cluster)
    if names:
        api_step(
            name=f"addons applied ({', '.join(names)})",
            step="addons",
            kubeconfig=kubeconfig,
            args=["--addons", ",".join(names), "--values", json.dumps(addon_values(cluster))],
        )
    nodes = ",".join(n.name for n in cluster.nodes)
    api_step(name="nodes Ready", step="wait-nodes", kubeconfig=kubeconfig, args=["--nodes", nodes], wait=True)
    control_planes = ",".join(n.name for n in cluster.control_planes)
    api_step(
        name="control planes labelled",
        step="label-control-planes",
        kubeconfig=kubeconfig,
        args=["--nodes", control_planes],
    )


@deploy("kubeling addons upgraded")
def addons_upgraded(cluster: Cluster, admin_kubeconfig: Path) -> None:
    """After an upgrade: each addon re-applied with the target's image and waited rolled out.

    ``cluster`` carries the target version. One addon at a time, in the group
    data's order: kube-proxy and the pod network are rolled out before DNS
    moves, so every node programs the new DNS pods' addresses before the old
    ones (in their lame-duck seconds) go. Nothing is applied unless every
    node's kubelet reports the target (a run that stopped part-way leaves the
    addons on the image they run), and a run with nothing to do changes nothing.
    """
    kubeconfig = str(admin_kubeconfig)
    nodes = ",".join(n.name for n in cluster.nodes)
    values = json.dumps(addon_values(cluster))
    for name in usable_addons(cluster):
        chosen = ["--addons", name, "--values", values]
        api_step(
            name=f"addon {name} at {cluster.version}",
            step="addons",
            kubeconfig=kubeconfig,
            args=[*chosen, "--only-if-nodes-at", cluster.version, "--nodes", nodes],
        )
        api_step(
            name=f"addon {name} rolled out", step="wait-addons", kubeconfig=kubeconfig, args=chosen, wait=True
        )
