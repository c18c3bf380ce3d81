"""What an installed host holds, by inventory group (kubeadm's layout, see issue 7).

Every host runs docker and the kubelet (control planes too: their components
are the kubelet's static pods); ``kube_control_plane`` hosts add the static
pods, their ports and the cluster PKI; ``etcd`` hosts add Debian's etcd unit,
its ports and member certificates.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTROL_PLANE = "kube_control_plane"
ETCD = "etcd"
NODE = "kube_node"
GROUPS = (CONTROL_PLANE, ETCD, NODE)

KUBERNETES_DIR = "/etc/kubernetes"
PKI_DIR = f"{KUBERNETES_DIR}/pki"
MANIFESTS_DIR = f"{KUBERNETES_DIR}/manifests"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248  # upstream's healthzPort; kubeling's kubelet answers /healthz on 10250
ETCD_CLIENT_URL = "https://127.0.0.1:2379"

STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class CertFile:
    """A certificate (``.crt``) with its key (``.key``), a lone cert or key, or a kubeconfig."""

    path: str
    has_cert: bool = True
    has_key: bool = True
    kubeconfig: bool = False


def _pair(stem: str) -> CertFile:
    return CertFile(f"{PKI_DIR}/{stem}")


def _conf(name: str) -> CertFile:
    # kubeconfigs embed a private key: the key mode rule applies to the file itself
    return CertFile(f"{KUBERNETES_DIR}/{name}", kubeconfig=True)


# What deploys/tasks/pki.py ships: CA keys stay on the deploying machine; the kubelet's serving
# pair is found through its KubeletConfiguration (hostchecks.kubelet_serving_cert).
NODE_CERTS = (CertFile(f"{PKI_DIR}/ca", has_key=False), _conf("kubelet.conf"))
CONTROL_PLANE_CERTS = (
    _pair("apiserver"),
    _pair("apiserver-kubelet-client"),
    _pair("apiserver-etcd-client"),
    CertFile(f"{PKI_DIR}/front-proxy-ca", has_key=False),
    _pair("front-proxy-client"),
    CertFile(f"{PKI_DIR}/sa", has_cert=False),  # sa.key signs tokens; sa.pub is public
    CertFile(f"{PKI_DIR}/etcd/ca", has_key=False),  # the apiserver's etcd client trusts it
    _conf("admin.conf"),
    _conf("controller-manager.conf"),
    _conf("scheduler.conf"),
)
ETCD_CERTS = (
    CertFile(f"{PKI_DIR}/etcd/ca", has_key=False),
    _pair("etcd/server"),
    _pair("etcd/peer"),
    _pair("etcd/healthcheck-client"),
)


def units(groups: frozenset[str]) -> list[str]:
    return ["docker", "kubelet"] + (["etcd"] if ETCD in groups else [])


def ports(groups: frozenset[str]) -> list[int]:
    wanted = [KUBELET_PORT]
    if CONTROL_PLANE in groups:
        wanted += [6443, 10257, 10259]  # kube-apiserver, kube-controller-manager, kube-scheduler
    if ETCD in groups:
        wanted += [2379, 2380]
    return wanted


def cert_files(groups: frozenset[str]) -> list[CertFile]:
    """The host's files in a fixed order, each once."""
    files = list(NODE_CERTS)
    if CONTROL_PLANE in groups:
        files += CONTROL_PLANE_CERTS
    if ETCD in groups:
        files += ETCD_CERTS
    return list({f.path: f for f in files}.values())
