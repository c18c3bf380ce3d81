"""What the proxy programs, read out of Services and EndpointSlices (pure, no I/O).

A Service becomes one :class:`ServicePort` per port (keyed by
:class:`ServicePortName`: namespace, name, port name, protocol); the
EndpointSlices labelled ``kubernetes.io/service-name`` of that Service become
the :class:`Endpoint` lists of those same keys, merged over slices, one per
``ip:port`` and sorted so that unchanged input gives unchanged rules.

Only IPv4 is handled (the node's family here).  :func:`categorize` is
upstream's endpoint selection: ready endpoints, else serving-and-terminating
ones (so draining pods still take traffic when nothing else can), and the
local subset for the ``Local`` traffic policies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeling.proxy import chains

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Services and slices with these labels belong to another proxy or to no proxy (headless), as upstream.
LABEL_SELECTOR = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
DEFAULT_AFFINITY_SECONDS = 10800


@dataclass(frozen=True, order=True)
class ServicePortName:
    namespace: str
    name: str
    port: str
    protocol: str

    @property
    def namespaced_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return self.namespaced_name + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class ServicePort:
    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    affinity_seconds: int = 0  # > 0: sessionAffinity ClientIP with this timeout
    external_policy_local: bool = False
    internal_policy_local: bool = False

    @property
    def protocol(self) -> str:
        return self.name.protocol.lower()

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        # With external policy Local too: host-originated external traffic short-circuits to it.
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (self.external_policy_local and self.externally_accessible)

    @property
    def cluster_chain(self) -> str:
        return chains.cluster_policy_chain(str(self.name), self.protocol)

    @property
    def local_chain(self) -> str:
        return chains.local_policy_chain(str(self.name), self.protocol)

    @property
    def external_chain(self) -> str:
        return chains.external_chain(str(self.name), self.protocol)


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    is_local: bool = False

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"

    def chain(self, service: ServicePort) -> str:
        return chains.endpoint_chain(str(service.name), service.protocol, str(self))


def _ipv4(value: Any) -> str | None:
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return None
    return str(address) if address.version == 4 else None


def service_ports(service: Obj) -> list[ServicePort]:
    """The ports of a Service the proxy programs (none for headless and ExternalName services)."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    candidates = spec.get("clusterIPs") or [spec.get("clusterIP")]
    cluster_ip = next(filter(None, map(_ipv4, candidates)), None)
    if cluster_ip is None:
        return []
    service_type = spec.get("type") or "ClusterIP"
    external_ips = tuple(sorted(filter(None, map(_ipv4, spec.get("externalIPs") or []))))
    lb_ips: tuple[str, ...] = ()
    if service_type == "LoadBalancer":
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        lb_ips = tuple(sorted(filter(None, (_ipv4(i.get("ip")) for i in ingress if i.get("ip")))))
    externally_accessible = service_type in ("NodePort", "LoadBalancer") or bool(external_ips)
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(client_ip.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)
    ports = []
    for port in spec.get("ports") or []:
        if not port.get("port"):
            continue
        ports.append(
            ServicePort(
                name=ServicePortName(
                    meta.get("namespace", ""),
                    meta.get("name", ""),
                    port.get("name") or "",
                    port.get("protocol") or "TCP",
                ),
                cluster_ip=cluster_ip,
                port=int(port["port"]),
                node_port=int(port.get("nodePort") or 0) if service_type != "ClusterIP" else 0,
                external_ips=external_ips,
                load_balancer_ips=lb_ips,
                affinity_seconds=affinity,
                external_policy_local=externally_accessible and spec.get("externalTrafficPolicy") == "Local",
                internal_policy_local=spec.get("internalTrafficPolicy") == "Local",
            )
        )
    return ports


def slice_service_name(endpoint_slice: Obj) -> str | None:
    """``namespace/name`` of the Service a slice belongs to, from its label."""
    meta = endpoint_slice.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace', '')}/{name}" if name else None


def slice_endpoints(slices: Iterable[Obj], node_name: str) -> dict[ServicePortName, list[Endpoint]]:
    """The endpoints of one Service's slices, per service port, merged, deduplicated and sorted."""
    merged: dict[ServicePortName, dict[str, Endpoint]] = {}
    for endpoint_slice in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name", "")):
        if endpoint_slice.get("addressType") != "IPv4":
            continue
        namespace = (endpoint_slice.get("metadata") or {}).get("namespace", "")
        service = ((endpoint_slice.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL, "")
        for port in endpoint_slice.get("ports") or []:
            if port.get("port") is None:
                continue
            key = ServicePortName(namespace, service, port.get("name") or "", port.get("protocol") or "TCP")
            bucket = merged.setdefault(key, {})
            for item in endpoint_slice.get("endpoints") or []:
                ip = next(filter(None, map(_ipv4, item.get("addresses") or [])), None)
                if ip is None:
                    continue
                conditions = item.get("conditions") or {}
                ready = conditions.get("ready") is None or bool(conditions["ready"])
                endpoint = Endpoint(
                    ip=ip,
                    port=int(port["port"]),
                    ready=ready,
                    serving=ready if conditions.get("serving") is None else bool(conditions["serving"]),
                    terminating=bool(conditions.get("terminating")),
                    is_local=bool(node_name) and item.get("nodeName") == node_name,
                )
                bucket.setdefault(str(endpoint), endpoint)
    return {key: sorted(eps.values(), key=str) for key, eps in merged.items()}


@dataclass(frozen=True)
class Categorized:
    cluster: list[Endpoint]  # for Cluster policy
    local: list[Endpoint]  # for Local policy
    reachable: list[Endpoint]  # union: every endpoint that gets a KUBE-SEP chain
    has_any: bool  # some usable endpoint exists anywhere in the cluster


def categorize(service: ServicePort, endpoints: list[Endpoint]) -> Categorized:
    """upstream's CategorizeEndpoints, without topology hints."""
    cluster: list[Endpoint] = []
    has_any = False
    if service.uses_cluster_endpoints:
        cluster = [ep for ep in endpoints if ep.ready]
        if not cluster:  # best effort while everything drains
            cluster = [ep for ep in endpoints if ep.serving and ep.terminating]
        has_any = bool(cluster)
    if not service.uses_local_endpoints:
        return Categorized(cluster, [], cluster, has_any)
    usable = [ep for ep in endpoints if ep.ready or (ep.serving and ep.terminating)]
    has_any = has_any or bool(usable)
    local = [ep for ep in endpoints if ep.is_local and ep.ready]
    if not local:
        local = [ep for ep in endpoints if ep.is_local and ep.serving and ep.terminating]
    if not service.uses_cluster_endpoints:
        return Categorized([], local, local, has_any)
    seen = {str(ep) for ep in cluster}
    reachable = cluster + [ep for ep in local if str(ep) not in seen]
    return Categorized(cluster, local, reachable, has_any)
