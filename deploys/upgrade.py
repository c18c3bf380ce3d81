"""Upgrade a running cluster to another kubeling version, kubeadm-style:
``pyinfra -y INVENTORY deploys/upgrade.py --data target_version=V``.

1. On the deploying machine: the plan (``kubeling upgrade plan``) — the run
   stops before any change when the version-skew policy refuses it; then the
   target's images and wheelhouse (built when missing, from this checkout or
   from the tree named by data ``target_source``).
2. Every node: the target's image tarballs uploaded and loaded, its
   wheelhouse uploaded (nothing restarts).
3. Control planes, one at a time: static-pod manifests swapped to the target
   image one component at a time, each waited healthy (apiserver ``/readyz``
   and ``/version`` on that node; controller-manager and scheduler
   ``/healthz``), then the kubelet upgraded and waited Ready at the target.
4. Workers, one at a time: cordon, drain (evictions honour
   PodDisruptionBudgets), kubelet upgraded and restarted, Ready at the target,
   uncordon.
5. From the deploying machine, once every kubelet reports the target: the
   addons re-applied with the target's image and waited rolled out.

A node whose check fails is rolled back (manifests and kubelet) and the run
stops with the node and the check named; running again resumes, and nodes
already at the target are left alone (a run with nothing to do changes nothing).
Details: deploys/tasks/upgrade.py, docs/deploy.md.
"""

import dataclasses
from pathlib import Path

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from deploys.cluster import ClusterError
from deploys.tasks import artifacts, context
from deploys.tasks.addons import addons_upgraded
from deploys.tasks.control_plane import COMPONENTS, manifest
from deploys.tasks.upgrade import (
    KubelingVersion,
    NodeUpgrade,
    control_plane_upgraded,
    worker_upgraded,
)
from deploys.tasks.upgrade_ship import checked_plan, target_shipped

target = host.data.get("target_version")
if not target:
    raise DeployError("give the version to upgrade to: --data target_version=VERSION")
target = str(target)
source = host.data.get("target_source")
root = Path(str(source)).expanduser().resolve() if source else None

try:
    cluster = context.cluster()
    node = context.node()
except ClusterError as exc:
    raise DeployError(f"inventory: {exc}") from None

if node is not None:
    kubeconfig = context.admin_kubeconfig_path()
    checked_plan(kubeconfig, target)
    try:
        shipment = artifacts.ensure_shipment(target, root)
    except artifacts.ArtifactError as exc:
        raise DeployError(str(exc)) from None
    at_target = dataclasses.replace(cluster, version=target)
    target_shipped(at_target, shipment)

    plan = NodeUpgrade(
        node=node.name,
        target=target,
        previous=host.get_fact(KubelingVersion) or cluster.version,
        kubeconfig=str(kubeconfig),
        stamp=shipment.wheelhouse_stamp,
    )
    if node.control_plane:
        control_plane_upgraded(
            name=f"control plane {node.name} at {target}",
            plan=dataclasses.replace(
                plan,
                endpoint=f"{node.ip}:{cluster.apiserver_port}",
                manifests=tuple(
                    (c, manifest(at_target, node, c, artifacts.pki_dir(at_target))) for c in COMPONENTS
                ),
            ),
            _serial=True,
        )
    else:
        worker_upgraded(name=f"worker {node.name} at {target}", plan=plan, _serial=True)
    if context.is_first_control_plane():
        addons_upgraded(at_target, kubeconfig)
