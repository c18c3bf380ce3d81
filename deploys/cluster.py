"""The cluster an inventory describes, and the host files rendered for it (no pyinfra here).

``deploys/install.py`` builds one :class:`Cluster` from the pyinfra inventory
(groups named as kubespray's: ``kube_control_plane``, ``etcd``, ``kube_node``;
settings from ``inventories/group_data/all.py``) and renders ``templates/*.j2``
per host with :func:`host_context`.  Tests build the same objects by hand, so
everything a host receives can be checked without a host.

Host data an inventory may give per host:

- ``node_name``: the Kubernetes Node name (default: the inventory name);
- ``node_ip``: the node's InternalIP, what etcd, the apiserver and the kubelet
  bind and advertise (default: the inventory name or ``ssh_hostname`` when it
  is an IP address).

How nodes reach the API: a control-plane host's kubelet, controller-manager
and scheduler use the apiserver on the same host (``https://127.0.0.1:6443``).
With one control plane, other nodes' kubelets and kube-proxy use its address.
With several, every node runs ``kubeling lb`` (``kubeling-lb.service``) on
``https://127.0.0.1:6444``, a TCP balancer over every control plane's
apiserver, and worker kubelets and kube-proxy use that (docs/deploy.md).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"

# The host layout (kubeadm's).
ETC = "/etc/kubernetes"
PKI = f"{ETC}/pki"
MANIFESTS = f"{ETC}/manifests"
KUBELET_DIR = "/var/lib/kubelet"
OPT = "/opt/kubeling"
VENV = f"{OPT}/venv"
IMAGES_DIR = f"{OPT}/images"
WHEELHOUSE_DIR = f"{OPT}/wheelhouse"
ETCD_DATA_DIR = "/var/lib/etcd/kubeling"
CNI_CONF_DIR = "/etc/cni/net.d"
APISERVER_PORT = 6443
LOOPBACK_URL = f"https://127.0.0.1:{APISERVER_PORT}"
LB_PORT = 6444  # kubeling lb on every node of an HA cluster (kubespray's nginx-proxy idea)
LB_URL = f"https://127.0.0.1:{LB_PORT}"

CONTROL_PLANE_GROUP = "kube_control_plane"
ETCD_GROUP = "etcd"
NODE_GROUP = "kube_node"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
DATASTORES = ("etcd", "sqlite")

_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ClusterError(ValueError):
    """The inventory or its group data cannot describe a cluster; the message names what is wrong."""


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    control_plane: bool = False
    etcd: bool = False
    worker: bool = False


@dataclass(frozen=True)
class Cluster:
    name: str
    version: str
    nodes: tuple[Node, ...]
    service_cidr: str = "10.96.0.0/12"
    cluster_cidr: str = "10.244.0.0/16"
    cluster_domain: str = "cluster.local"
    datastore: str = "etcd"
    addons: tuple[str, ...] = ("kube-proxy", "hostgw", "dns", "metrics-server", "node-certificate-rotation")
    apiserver_port: int = APISERVER_PORT
    # Processes of each control plane's apiserver (kubeling apiserver --workers); etcd only.
    apiserver_workers: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not self.control_planes:
            raise ClusterError(f"inventory group {CONTROL_PLANE_GROUP!r} is empty: a cluster needs one")
        if self.datastore not in DATASTORES:
            raise ClusterError(f"datastore {self.datastore!r}: choose one of {', '.join(DATASTORES)}")
        if self.datastore == "etcd" and not self.etcd_members:
            raise ClusterError(f"datastore etcd needs hosts in the inventory group {ETCD_GROUP!r}")
        strays = [n.name for n in self.etcd_members if not n.control_plane]
        if self.datastore == "etcd" and strays:
            raise ClusterError(
                f"etcd members must be control planes (stacked etcd): {', '.join(strays)} is not"
            )
        if self.datastore == "sqlite" and len(self.control_planes) > 1:
            raise ClusterError("datastore sqlite serves one control plane only; use etcd for several")
        if self.apiserver_workers < 1:
            raise ClusterError(f"apiserver_workers {self.apiserver_workers}: at least 1")
        if self.datastore == "sqlite" and self.apiserver_workers > 1:
            raise ClusterError("apiserver_workers > 1 needs datastore etcd (sqlite belongs to one process)")
        seen_names: set[str] = set()
        seen_ips: set[str] = set()
        for node in self.nodes:
            if not _NODE_NAME.match(node.name) or len(node.name) > 253:
                raise ClusterError(f"host {node.name!r}: node_name must be a lowercase DNS name")
            if node.name in seen_names:
                raise ClusterError(f"node name {node.name!r} is used by two hosts")
            if node.ip in seen_ips:
                raise ClusterError(f"node IP {node.ip} is used by two hosts")
            seen_names.add(node.name)
            seen_ips.add(node.ip)
        for label, cidr in (("service_cidr", self.service_cidr), ("cluster_cidr", self.cluster_cidr)):
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ClusterError(f"{label} {cidr!r} is not a network address/prefix") from None
        if ipaddress.ip_network(self.service_cidr).overlaps(ipaddress.ip_network(self.cluster_cidr)):
            raise ClusterError(f"service_cidr {self.service_cidr} overlaps cluster_cidr {self.cluster_cidr}")

    # -- who is what --------------------------------------------------------------------------

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def etcd_members(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.etcd)

    @property
    def workers_only(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.control_plane)

    @property
    def ha(self) -> bool:
        return len(self.control_planes) > 1

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no node {name!r} in the inventory")

    # -- derived settings ---------------------------------------------------------------------

    @property
    def image(self) -> str:
        return f"kubeling/kubeling:{self.version}"

    @property
    def pause_image(self) -> str:
        return f"kubeling/pause:{self.version}"

    @property
    def busybox_image(self) -> str:
        return f"kubeling/busybox:{self.version}"

    @property
    def dns_ip(self) -> str:
        """The 10th address of the service range, where upstream puts the cluster DNS."""
        return str(ipaddress.ip_network(self.service_cidr).network_address + 10)

    def url_of(self, node: Node) -> str:
        host = f"[{node.ip}]" if ":" in node.ip else node.ip
        return f"https://{host}:{self.apiserver_port}"

    @property
    def admin_url(self) -> str:
        """What the deploying machine and the admin kubeconfig use: the first control plane."""
        return self.url_of(self.control_planes[0])

    def apiserver_url_for(self, node: Node) -> str:
        """Where ``node``'s kubelet reaches the API (see the module docstring)."""
        if node.control_plane:
            return LOOPBACK_URL
        return LB_URL if self.ha else self.url_of(self.control_planes[0])

    @property
    def proxy_apiserver_url(self) -> str:
        """One URL for the kube-proxy DaemonSet on every node: loopback when every node runs an
        apiserver, the local balancer when there are several control planes, else the first."""
        if not self.workers_only:
            return LOOPBACK_URL
        return LB_URL if self.ha else self.admin_url

    @property
    def lb_backends(self) -> list[str]:
        """What ``kubeling lb`` balances over: every control plane's apiserver."""
        return [self.url_of(n).removeprefix("https://") for n in self.control_planes]

    def etcd_servers_for(self, node: Node) -> list[str]:
        """The apiserver's etcd endpoints: its own member first, then the others."""
        members = sorted(self.etcd_members, key=lambda m: m.name != node.name)
        return [f"https://{m.ip}:2379" for m in members]

    @property
    def etcd_initial_cluster(self) -> str:
        return ",".join(f"{m.name}=https://{m.ip}:2380" for m in self.etcd_members)

    def taints_for(self, node: Node) -> list[dict[str, str]]:
        """kubeadm taints control planes NoSchedule; not when no other node could run pods."""
        return [CONTROL_PLANE_TAINT] if node.control_plane and self.workers_only else []

    def pki_inventory(self) -> Any:
        """What ``kubeling pki init`` makes certificates for (every node gets a kubelet identity)."""
        from kubeling.pki.layout import Inventory, parse_host

        control = tuple(parse_host(f"{n.name}={n.ip}") for n in self.control_planes)
        others = tuple(parse_host(f"{n.name}={n.ip}") for n in self.workers_only)
        return Inventory(
            cluster=self.name,
            control_planes=control,
            nodes=others,
            service_cidr=self.service_cidr,
            cluster_domain=self.cluster_domain,
        )


def host_context(cluster: Cluster, node: Node) -> dict[str, Any]:
    """Everything a host template may use."""
    return {
        "cluster": cluster,
        "node": node,
        "etc": ETC,
        "pki": PKI,
        "venv": VENV,
        "kubelet_dir": KUBELET_DIR,
        "etcd_data_dir": ETCD_DATA_DIR,
        "etcd_servers": cluster.etcd_servers_for(node),
        "etcd_initial_cluster": cluster.etcd_initial_cluster,
        "apiserver_url": cluster.apiserver_url_for(node),
        "lb_port": LB_PORT,
        "taints": cluster.taints_for(node),
    }


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def render(template: str, cluster: Cluster, node: Node) -> str:
    """``templates/<template>`` rendered for ``node``; a value the template lacks is a ClusterError."""
    try:
        return _ENV.get_template(template).render(**host_context(cluster, node))
    except jinja2.TemplateNotFound:
        raise ClusterError(f"no template {template!r} in {TEMPLATES}") from None
    except jinja2.UndefinedError as exc:
        raise ClusterError(f"template {template}: {exc}") from exc


# -- from a pyinfra inventory -----------------------------------------------------------------


def node_ip_of(name: str, data: dict[str, Any]) -> str:
    """``node_ip``, else the inventory name or ``ssh_hostname`` when it is an IP address."""
    for candidate in (data.get("node_ip"), name, data.get("ssh_hostname")):
        if not candidate:
            continue
        try:
            return str(ipaddress.ip_address(str(candidate)))
        except ValueError:
            if candidate == data.get("node_ip"):
                raise ClusterError(f"host {name}: node_ip {candidate!r} is not an IP address") from None
    raise ClusterError(f"host {name}: give node_ip (its InternalIP); the inventory name is not an IP")


def from_hosts(hosts: list[tuple[str, dict[str, Any], set[str]]], settings: dict[str, Any]) -> Cluster:
    """A cluster from ``(inventory name, host data, group names)`` triples and the group data."""
    nodes = []
    for name, data, groups in hosts:
        roles = groups & {CONTROL_PLANE_GROUP, ETCD_GROUP, NODE_GROUP}
        if not roles:
            continue
        nodes.append(
            Node(
                name=str(data.get("node_name") or name),
                ip=node_ip_of(name, data),
                control_plane=CONTROL_PLANE_GROUP in roles,
                etcd=ETCD_GROUP in roles,
                worker=NODE_GROUP in roles,
            )
        )
    version = settings.get("kubeling_version")
    if not version:
        from kubeling.image.recipes import resolve_version

        version = resolve_version(None)
    addons = settings.get("addons")
    return Cluster(
        name=str(settings.get("cluster_name") or "kubeling"),
        version=str(version),
        nodes=tuple(nodes),
        service_cidr=str(settings.get("service_cidr") or "10.96.0.0/12"),
        cluster_cidr=str(settings.get("cluster_cidr") or "10.244.0.0/16"),
        cluster_domain=str(settings.get("cluster_domain") or "cluster.local"),
        datastore=str(settings.get("datastore") or "etcd"),
        addons=tuple(addons) if addons is not None else Cluster.addons,
        apiserver_workers=_int_setting(settings, "apiserver_workers", 1),
    )


def _int_setting(settings: dict[str, Any], name: str, default: int) -> int:
    value = settings.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ClusterError(f"{name} {value!r} is not a whole number") from None
