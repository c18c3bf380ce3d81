"""Rotate a running cluster's certificates: ``pyinfra -y INVENTORY deploys/rotate_certs.py``.

``--data threshold_days=N`` (alias ``only_expiring_within``) renews only the leaves that
expire within N days; without it every leaf is renewed. CAs are kept (same CA, so every
other certificate keeps verifying while hosts switch one by one).

Order (each restart waits for health before the next host; docs/deploy.md):

1. on the deploying machine, once: ``kubeling pki renew`` of ``certs/<cluster>/`` (same
   keys, new validity; kubeconfigs re-issued: admin, controller-manager, scheduler, kubelets);
2. every host: its files uploaded as at install (keys and kubeconfigs 0600);
3. etcd members one at a time: restart, wait until the member answers healthy;
4. control planes one at a time, per component (apiserver, controller-manager, scheduler):
   the static-pod manifest gets an annotation with the hash of the host's certificates, the
   kubelet recreates the pod, and the mirror pod running that manifest must be Ready (and
   the apiserver's ``/readyz`` answer) before the next host;
5. kubelets one at a time: restart, wait for the Node Ready with a fresh heartbeat;
6. the admin kubeconfig next to the inventory re-issued.

A host restarts only what uses a file that changed, so a second run with a threshold
renews nothing and changes nothing.
"""

from pyinfra.api.exceptions import DeployError
from pyinfra.operations.util import any_changed

from deploys.cluster import PKI, ClusterError
from deploys.tasks import certs, context
from deploys.tasks.control_plane import COMPONENTS
from deploys.tasks.kubeconfig import admin_kubeconfig
from deploys.tasks.pki import files_for, kubeconfigs_for, pki

try:
    cluster = context.cluster()
    node = context.node()
except ClusterError as exc:
    raise DeployError(f"inventory: {exc}") from None

if node is not None:
    try:
        source, _renewed = certs.renew_once(cluster, certs.threshold_days())
    except certs.RenewError as exc:
        raise DeployError(str(exc)) from None
    uploads = pki(cluster, node, source)
    remotes = [remote for _, remote, _, _ in files_for(cluster, node, source)]
    remotes += [remote for _, remote in kubeconfigs_for(cluster, node, source)]
    changed_by_path = dict(zip(remotes, uploads, strict=True))
    admin = str(certs.admin_kubeconfig_file(cluster, source))

    if node.etcd and cluster.datastore == "etcd":
        etcd_files = [op for path, op in changed_by_path.items() if path.startswith(f"{PKI}/etcd/")]
        certs.etcd_member(
            name="etcd member restarted on its new certificates, healthy",
            _serial=True,
            _if=any_changed(*etcd_files),
        )

    if node.control_plane:
        digest = certs.certificates_hash(cluster, node, source)
        for component in COMPONENTS:
            content, uid = certs.annotated_manifest(cluster, node, component, digest)
            certs.static_pod(
                name=f"{component} recreated on the new certificates, Ready",
                component=component,
                content=content,
                uid=uid,
                node_name=node.name,
                kubeconfig=admin,
                readyz=certs.readyz_url(node) if component == "kube-apiserver" else "",
                cacert=str(source / "ca.crt"),
                _serial=True,
            )

    kubelet_inputs = [
        op for path, op in changed_by_path.items() if "/kubelet" in path or path.endswith("/ca.crt")
    ]
    certs.kubelet(
        name="kubelet restarted on its new certificates, Node Ready",
        node_name=node.name,
        kubeconfig=admin,
        _serial=True,
        _if=any_changed(*kubelet_inputs),
    )

    if context.is_first_control_plane():
        admin_kubeconfig(cluster, source, context.admin_kubeconfig_path())
