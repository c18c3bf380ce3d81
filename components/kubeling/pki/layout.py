"""The kubeadm certificate set, as data.

``leaves(inventory)`` lists every certificate a cluster needs — its file,
subject, SANs, usages and signing CA — so that init, renew and
check-expiration share one description and none of them hard-codes a name.

One directory holds the PKI of a whole cluster (kubeadm keeps one
``/etc/kubernetes/pki`` per host), so it has the files of
``/etc/kubernetes/pki`` plus the kubeconfigs of ``/etc/kubernetes`` next to them::

    ca.crt ca.key                        cluster CA ("ca")
    apiserver.crt .key                   apiserver-kubelet-client.crt .key
    front-proxy-ca.crt .key              front-proxy-client.crt .key
    etcd/ca.crt .key                     etcd CA ("etcd-ca")
    etcd/<host>/server.crt .key          one etcd member per control-plane host; the deploy
    etcd/<host>/peer.crt .key              copies them to that host's etcd/server.* and etcd/peer.*
    etcd/healthcheck-client.crt .key     apiserver-etcd-client.crt .key
    kubelet/<node>.crt .key              the kubelet's serving certificate on every node
    sa.key sa.pub                        ServiceAccount token signing key (always RSA 2048)
    admin.conf super-admin.conf controller-manager.conf scheduler.conf kube-proxy.conf
    kubelet-<node>.conf                  the deploy installs it as that node's kubelet.conf
    pki.json                             the inventory the set was made for (used by renew/check)

Certificate names follow ``kubeadm certs``: ``apiserver``, ``etcd-server``, ``admin.conf`` ...
Per-host certificates carry the host in their name (``etcd-server-<host>``,
``etcd-peer-<host>``, ``kubelet-serving-<node>``, ``kubelet-<node>.conf``) and
answer to their kubeadm name as a group (``etcd-server`` renews every member's).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from kubeling.pki.certs import CLIENT_AUTH, SERVER_AUTH, CertRequest, IPAddress

CA_NAME = "ca"
FRONT_PROXY_CA_NAME = "front-proxy-ca"
ETCD_CA_NAME = "etcd-ca"
SA_KEY = "sa.key"
SA_PUB = "sa.pub"
STATE_FILE = "pki.json"
DEFAULT_PORT = 6443

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class Kind(enum.Enum):
    CERT = "cert"  # <path>.crt and <path>.key
    KUBECONFIG = "kubeconfig"  # <path>, with the client certificate and key embedded


@dataclass(frozen=True)
class CASpec:
    name: str  # as kubeadm prints it: ca, etcd-ca, front-proxy-ca
    path: str  # file stem relative to the PKI directory
    common_name: str


@dataclass(frozen=True)
class LeafSpec:
    name: str
    kind: Kind
    path: str  # file stem for certs, file name for kubeconfigs
    ca: str  # the CASpec.name that signs it
    request: CertRequest
    groups: tuple[str, ...] = ()  # extra names renew accepts for it


@dataclass(frozen=True)
class Host:
    name: str
    ip: IPAddress


@dataclass(frozen=True)
class Inventory:
    """What the certificates are made for; pki.json stores it."""

    cluster: str
    control_planes: tuple[Host, ...]
    nodes: tuple[Host, ...] = ()
    apiserver_endpoint: str = ""  # DNS name or IP, optionally :port
    service_cidr: str = "10.96.0.0/12"
    cluster_domain: str = "cluster.local"

    @property
    def all_hosts(self) -> tuple[Host, ...]:
        return self.control_planes + self.nodes

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "controlPlanes": [{"name": h.name, "ip": str(h.ip)} for h in self.control_planes],
            "nodes": [{"name": h.name, "ip": str(h.ip)} for h in self.nodes],
            "apiserverEndpoint": self.apiserver_endpoint,
            "serviceCIDR": self.service_cidr,
            "clusterDomain": self.cluster_domain,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inventory:
        """Rebuild and validate an inventory; ValueError on anything malformed."""
        try:
            inventory = cls(
                cluster=str(data["cluster"]),
                control_planes=tuple(_host(h["name"], h["ip"]) for h in data["controlPlanes"]),
                nodes=tuple(_host(h["name"], h["ip"]) for h in data.get("nodes", [])),
                apiserver_endpoint=str(data.get("apiserverEndpoint", "")),
                service_cidr=str(data.get("serviceCIDR", "10.96.0.0/12")),
                cluster_domain=str(data.get("clusterDomain", "cluster.local")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or malformed field {exc}") from None
        inventory.validate()
        return inventory

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if not _CLUSTER_NAME.match(self.cluster):
            raise ValueError(f"invalid cluster name {self.cluster!r}")
        if not self.control_planes:
            raise ValueError("at least one control-plane host is required")
        seen: set[str] = set()
        for host in self.all_hosts:
            if host.name in seen:
                raise ValueError(f"host {host.name!r} is listed twice")
            seen.add(host.name)
        endpoint_host(self)
        first_service_ip(self.service_cidr)
        if not _DNS_SUBDOMAIN.match(self.cluster_domain):
            raise ValueError(f"invalid cluster domain {self.cluster_domain!r}")


def _host(name: str, ip: str) -> Host:
    name = str(name)
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ValueError(f"invalid host name {name!r} (want a lowercase DNS name)")
    try:
        return Host(name, ipaddress.ip_address(str(ip)))
    except ValueError:
        raise ValueError(f"invalid IP address {ip!r} for host {name!r}") from None


def parse_host(value: str) -> Host:
    """``HOST=IP`` as given on the command line."""
    name, sep, ip = value.partition("=")
    if not sep or not name or not ip:
        raise ValueError(f"malformed host {value!r}, want HOST=IP")
    return _host(name.strip(), ip.strip())


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address → (host, port)."""
    host, port = endpoint, ""
    if endpoint.startswith("["):
        host, sep, rest = endpoint[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed endpoint {endpoint!r}")
        port = rest[1:]
    elif endpoint.count(":") == 1:
        host, port = endpoint.split(":")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"invalid port in endpoint {endpoint!r}")
    return host, int(port) if port else DEFAULT_PORT


def endpoint_host(inventory: Inventory) -> tuple[str | IPAddress, int]:
    """Where clients reach the apiserver: the endpoint, else the first control-plane IP."""
    if not inventory.apiserver_endpoint:
        return inventory.control_planes[0].ip, DEFAULT_PORT
    host, port = _split_endpoint(inventory.apiserver_endpoint)
    try:
        return ipaddress.ip_address(host), port
    except ValueError:
        pass
    if len(host) > 253 or not _DNS_SUBDOMAIN.match(host):
        raise ValueError(f"invalid apiserver endpoint {inventory.apiserver_endpoint!r}")
    return host, port


def server_url(inventory: Inventory) -> str:
    host, port = endpoint_host(inventory)
    if isinstance(host, ipaddress.IPv6Address):
        return f"https://[{host}]:{port}"
    return f"https://{host}:{port}"


def first_service_ip(cidr: str) -> IPAddress:
    """The ``kubernetes`` Service's ClusterIP: the first address of the range (10.96.0.1)."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise ValueError(f"invalid service CIDR {cidr!r}") from None
    if network.num_addresses < 4:
        raise ValueError(f"service CIDR {cidr!r} is too small")
    return network.network_address + 1


CAS: tuple[CASpec, ...] = (
    CASpec(CA_NAME, "ca", "kubernetes"),
    CASpec(ETCD_CA_NAME, "etcd/ca", "etcd-ca"),
    CASpec(FRONT_PROXY_CA_NAME, "front-proxy-ca", "front-proxy-ca"),
)

_SERVER = frozenset({SERVER_AUTH})
_CLIENT = frozenset({CLIENT_AUTH})
_BOTH = frozenset({SERVER_AUTH, CLIENT_AUTH})
_LOOPBACK_V4 = ipaddress.IPv4Address("127.0.0.1")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def _unique(values: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def apiserver_request(inventory: Inventory) -> CertRequest:
    domain = inventory.cluster_domain
    dns = [h.name for h in inventory.control_planes]
    dns += ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{domain}"]
    dns.append("localhost")
    ips: list[IPAddress] = [first_service_ip(inventory.service_cidr)]
    ips += [h.ip for h in inventory.control_planes]
    ips.append(_LOOPBACK_V4)
    if inventory.apiserver_endpoint:
        host, _ = endpoint_host(inventory)
        (ips if isinstance(host, ipaddress.IPv4Address | ipaddress.IPv6Address) else dns).append(host)
    return CertRequest("kube-apiserver", (), _SERVER, _unique(dns), _unique(ips))


def _etcd_member(host: Host) -> CertRequest:
    # Both usages: members dial each other with the same certificate they serve with.
    return CertRequest(
        host.name, (), _BOTH, (host.name, "localhost"), _unique([host.ip, _LOOPBACK_V4, _LOOPBACK_V6])
    )


def _client(cn: str, *orgs: str) -> CertRequest:
    return CertRequest(cn, tuple(orgs), _CLIENT)


def leaves(inventory: Inventory) -> list[LeafSpec]:
    """Every leaf certificate of the cluster, in kubeadm's order of creation."""
    cert, conf = Kind.CERT, Kind.KUBECONFIG
    specs = [
        LeafSpec("apiserver", cert, "apiserver", CA_NAME, apiserver_request(inventory)),
        LeafSpec(
            "apiserver-kubelet-client",
            cert,
            "apiserver-kubelet-client",
            CA_NAME,
            _client("kube-apiserver-kubelet-client", "kubeadm:cluster-admins"),
        ),
        LeafSpec(
            "front-proxy-client",
            cert,
            "front-proxy-client",
            FRONT_PROXY_CA_NAME,
            _client("front-proxy-client"),
        ),
    ]
    for host in inventory.control_planes:
        member = _etcd_member(host)
        specs.append(
            LeafSpec(
                f"etcd-server-{host.name}",
                cert,
                f"etcd/{host.name}/server",
                ETCD_CA_NAME,
                member,
                ("etcd-server",),
            )
        )
        specs.append(
            LeafSpec(
                f"etcd-peer-{host.name}", cert, f"etcd/{host.name}/peer", ETCD_CA_NAME, member, ("etcd-peer",)
            )
        )
    specs += [
        LeafSpec(
            "etcd-healthcheck-client",
            cert,
            "etcd/healthcheck-client",
            ETCD_CA_NAME,
            _client("kube-etcd-healthcheck-client"),
        ),
        LeafSpec(
            "apiserver-etcd-client",
            cert,
            "apiserver-etcd-client",
            ETCD_CA_NAME,
            _client("kube-apiserver-etcd-client"),
        ),
    ]
    for host in inventory.all_hosts:
        specs.append(
            LeafSpec(
                f"kubelet-serving-{host.name}",
                cert,
                f"kubelet/{host.name}",
                CA_NAME,
                CertRequest(f"system:node:{host.name}", ("system:nodes",), _SERVER, (host.name,), (host.ip,)),
                ("kubelet-serving",),
            )
        )
    specs += [
        LeafSpec(
            "admin.conf", conf, "admin.conf", CA_NAME, _client("kubernetes-admin", "kubeadm:cluster-admins")
        ),
        LeafSpec(
            "super-admin.conf",
            conf,
            "super-admin.conf",
            CA_NAME,
            _client("kubernetes-super-admin", "system:masters"),
        ),
        LeafSpec(
            "controller-manager.conf",
            conf,
            "controller-manager.conf",
            CA_NAME,
            _client("system:kube-controller-manager"),
        ),
        LeafSpec("scheduler.conf", conf, "scheduler.conf", CA_NAME, _client("system:kube-scheduler")),
        LeafSpec("kube-proxy.conf", conf, "kube-proxy.conf", CA_NAME, _client("system:kube-proxy")),
    ]
    for host in inventory.all_hosts:
        specs.append(
            LeafSpec(
                f"kubelet-{host.name}.conf",
                conf,
                f"kubelet-{host.name}.conf",
                CA_NAME,
                _client(f"system:node:{host.name}", "system:nodes"),
            )
        )
    return specs


def ca_by_name(name: str) -> CASpec:
    return next(ca for ca in CAS if ca.name == name)


def select(specs: list[LeafSpec], name: str) -> list[LeafSpec]:
    """The leaves a renew NAME means: ``all``, one name, or a group; ValueError if none."""
    if name == "all":
        return list(specs)
    chosen = [s for s in specs if s.name == name or name in s.groups]
    if not chosen:
        known = sorted({s.name for s in specs} | {g for s in specs for g in s.groups})
        raise ValueError(f"unknown certificate {name!r}; known: all, {', '.join(known)}")
    return chosen
