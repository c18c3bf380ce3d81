"""The cluster's DNS records, kept from Services, EndpointSlices and Namespaces.

Pure logic, no I/O: the informers call the ``set_*``/``delete_*`` methods,
the server calls :meth:`ClusterRecords.lookup`.  Each change recomputes the
records of the one Service it touches and swaps them into an owner-name
index, so a query is a dictionary lookup whatever the cluster's size.

Which records exist (upstream's DNS spec, as CoreDNS's kubernetes plugin with
kubeadm's ``pods insecure`` answers them):

- ClusterIP (and NodePort/LoadBalancer) Services: ``<svc>.<ns>.svc.<zone>``
  A/AAAA of ``spec.clusterIPs``; SRV ``_<port>._<proto>.<svc>...`` per named
  port pointing at the service name; PTR of each cluster IP.
- Headless Services (``clusterIP: None``): A/AAAA of every ready endpoint
  (all of them with ``publishNotReadyAddresses``), deduplicated over the
  Service's EndpointSlices; ``<hostname>.<svc>...`` per endpoint, the
  hostname being the endpoint's ``hostname`` (a StatefulSet pod whose
  subdomain is the Service) or else its dashed IP, as CoreDNS generates;
  one SRV per endpoint and named port pointing at that name; PTR of each
  endpoint IP to that name.  A headless Service with no ready endpoint has
  no records at all, so it is NXDOMAIN, as in CoreDNS.
- ExternalName Services: a CNAME at the service name (and SRV per named port
  pointing at the external name).
- A query for the service name itself with type SRV lists every port.
- Pods: ``<a-b-c-d>.<ns>.pod.<zone>`` answers the encoded IP, in any
  namespace that exists.

A name that exists with other types gives NOERROR and no answer (NODATA); a
name that does not exist gives NXDOMAIN; both carry the zone's SOA in the
authority section.  Reverse names are only answered when one is known:
others fall through to the upstream resolvers (``fallthrough in-addr.arpa
ip6.arpa`` in kubeadm's Corefile).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A

from kubeling.dns import names
from kubeling.dns.names import Kind

Obj = dict[str, Any]
ServiceKey = tuple[str, str]  # (namespace, name)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # ties an EndpointSlice to its Service
SCHEMA_VERSION = "1.1.0"  # of upstream's DNS spec, served at dns-version.<zone>
DNS_SERVICE: ServiceKey = ("kube-system", "kube-dns")  # answers ns.dns.<zone>
CNAME_CHASE_LIMIT = 8


@dataclass
class Answer:
    """What the cluster zone says about one question."""

    rcode: int = RCODE.NOERROR
    answers: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    # set when the answer ends in a CNAME out of the zone: the server resolves it upstream
    chase: str = ""


@dataclass(frozen=True)
class _Endpoint:
    ip: str
    hostname: str  # its own name under the service (hostname or dashed IP)
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, port)


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower()


def _address_rr(name: str, ip: str, ttl: int) -> RR:
    if ":" in ip:
        return RR(name, QTYPE.AAAA, rdata=AAAA(ip), ttl=ttl)
    return RR(name, QTYPE.A, rdata=A(ip), ttl=ttl)


def _srv_weight(count: int) -> int:
    # CoreDNS shares 100 between the records of one priority, rounding down.
    return max(1, 100 // max(count, 1))


def _ready(endpoint: Obj, publish_not_ready: bool) -> bool:
    if publish_not_ready:
        return True
    return (endpoint.get("conditions") or {}).get("ready") is not False  # unset means ready


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class ClusterRecords:
    """Every record of the cluster zone; update it from informer events, ask it with :meth:`lookup`."""

    def __init__(self, *, domain: str = "cluster.local", ttl: int = 30) -> None:
        self.domain = _fqdn(domain)
        self.ttl = ttl
        self.serial = int(time.time()) & 0xFFFFFFFF
        self.generation = 0  # bumped on every change; lets callers drop what they derived
        self._zone_labels = self.domain.split(".")
        self._services: dict[ServiceKey, Obj] = {}
        self._slices: dict[ServiceKey, dict[str, Obj]] = {}  # slice name → slice, per service
        self._namespaces: set[str] = set()
        # owner name → records of that name, per service that owns some
        self._names: dict[str, dict[ServiceKey, list[RR]]] = {}
        self._owned: dict[ServiceKey, dict[str, list[RR]]] = {}
        self._soa = RR(
            self.domain,
            QTYPE.SOA,
            rdata=SOA(
                f"ns.dns.{self.domain}", f"hostmaster.{self.domain}", (self.serial, 7200, 1800, 86400, ttl)
            ),
            ttl=ttl,
        )

    # -- updates from informers ---------------------------------------------------

    def set_namespace(self, namespace: Obj) -> None:
        self._namespaces.add(namespace["metadata"]["name"])
        self._changed()

    def delete_namespace(self, namespace: Obj) -> None:
        self._namespaces.discard(namespace["metadata"]["name"])
        self._changed()

    def set_service(self, service: Obj) -> None:
        key = (service["metadata"]["namespace"], service["metadata"]["name"])
        self._services[key] = service
        self._rebuild(key)

    def delete_service(self, service: Obj) -> None:
        key = (service["metadata"]["namespace"], service["metadata"]["name"])
        self._services.pop(key, None)
        self._rebuild(key)

    def set_slice(self, endpoint_slice: Obj) -> None:
        key = self._slice_owner(endpoint_slice)
        if key is None:
            return
        self._slices.setdefault(key, {})[endpoint_slice["metadata"]["name"]] = endpoint_slice
        self._rebuild(key)

    def delete_slice(self, endpoint_slice: Obj) -> None:
        key = self._slice_owner(endpoint_slice)
        if key is None:
            return
        slices = self._slices.get(key, {})
        slices.pop(endpoint_slice["metadata"]["name"], None)
        if not slices:
            self._slices.pop(key, None)
        self._rebuild(key)

    def update_slice(self, old: Obj, new: Obj) -> None:
        """A slice relabelled to another service must leave the old one."""
        if self._slice_owner(old) != self._slice_owner(new):
            self.delete_slice(old)
        self.set_slice(new)

    @staticmethod
    def _slice_owner(endpoint_slice: Obj) -> ServiceKey | None:
        metadata = endpoint_slice["metadata"]
        service = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
        return (metadata["namespace"], service) if service else None

    def _changed(self) -> None:
        self.generation += 1
        self.serial = int(time.time()) & 0xFFFFFFFF

    def _rebuild(self, key: ServiceKey) -> None:
        for name in self._owned.pop(key, {}):
            owners = self._names.get(name)
            if owners is not None:
                owners.pop(key, None)
                if not owners:
                    del self._names[name]
        service = self._services.get(key)
        if service is not None:
            records = self._service_records(key, service)
            self._owned[key] = records
            for name, rrs in records.items():
                self._names.setdefault(name, {})[key] = rrs
        self._changed()

    # -- records of one service ----------------------------------------------------

    def _service_records(self, key: ServiceKey, service: Obj) -> dict[str, list[RR]]:
        namespace, name = key
        spec = service.get("spec") or {}
        base = f"{name}.{namespace}.svc.{self.domain}"
        records: dict[str, list[RR]] = {}

        def add(owner: str, rr: RR) -> None:
            records.setdefault(owner, []).append(rr)

        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        if spec.get("type") == "ExternalName":
            target = _fqdn(spec.get("externalName") or "")
            if not target:
                return {}
            add(base, RR(base, QTYPE.CNAME, rdata=CNAME(target), ttl=self.ttl))
            named = [p for p in ports if p.get("name")]
            for port in named:
                owner = f"_{port['name'].lower()}._{port.get('protocol', 'TCP').lower()}.{base}"
                srv = SRV(0, 100, int(port.get("port", 0)), target)
                add(owner, RR(owner, QTYPE.SRV, rdata=srv, ttl=self.ttl))
            return records

        if spec.get("clusterIP") == "None":
            self._headless_records(key, service, base, add)
            return records

        ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP") or ""] if _valid_ip(ip)]
        if not ips:
            return {}
        for ip in ips:
            add(base, _address_rr(base, ip, self.ttl))
            reverse = _fqdn(ipaddress.ip_address(ip).reverse_pointer)
            add(reverse, RR(reverse, QTYPE.PTR, rdata=PTR(base), ttl=self.ttl))
        weight = _srv_weight(len(ports))
        for port in ports:
            srv = RR(base, QTYPE.SRV, rdata=SRV(0, weight, int(port.get("port", 0)), base), ttl=self.ttl)
            add(base, srv)
            if port.get("name"):
                owner = f"_{port['name'].lower()}._{port.get('protocol', 'TCP').lower()}.{base}"
                add(
                    owner,
                    RR(owner, QTYPE.SRV, rdata=SRV(0, 100, int(port.get("port", 0)), base), ttl=self.ttl),
                )
        # Endpoint names work for ClusterIP services too (CoreDNS answers them).
        for endpoint in self._endpoints(key, service):
            owner = f"{endpoint.hostname}.{base}"
            add(owner, _address_rr(owner, endpoint.ip, self.ttl))
        return records

    def _headless_records(self, key: ServiceKey, service: Obj, base: str, add: Any) -> None:
        endpoints = self._endpoints(key, service)
        by_port: dict[tuple[str, str], list[tuple[str, int]]] = {}
        all_ports: list[tuple[str, int]] = []
        for endpoint in endpoints:
            owner = f"{endpoint.hostname}.{base}"
            add(base, _address_rr(base, endpoint.ip, self.ttl))
            add(owner, _address_rr(owner, endpoint.ip, self.ttl))
            reverse = _fqdn(ipaddress.ip_address(endpoint.ip).reverse_pointer)
            add(reverse, RR(reverse, QTYPE.PTR, rdata=PTR(owner), ttl=self.ttl))
            for port_name, protocol, port in endpoint.ports:
                all_ports.append((owner, port))
                if port_name:
                    by_port.setdefault((port_name.lower(), protocol.lower()), []).append((owner, port))
        for (port_name, protocol), targets in by_port.items():
            owner = f"_{port_name}._{protocol}.{base}"
            weight = _srv_weight(len(targets))
            for target, port in targets:
                add(owner, RR(owner, QTYPE.SRV, rdata=SRV(0, weight, port, target), ttl=self.ttl))
        weight = _srv_weight(len(all_ports))
        for target, port in all_ports:
            add(base, RR(base, QTYPE.SRV, rdata=SRV(0, weight, port, target), ttl=self.ttl))

    def _endpoints(self, key: ServiceKey, service: Obj) -> list[_Endpoint]:
        publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        seen: dict[str, _Endpoint] = {}
        for endpoint_slice in self._slices.get(key, {}).values():
            if endpoint_slice.get("addressType") not in ("IPv4", "IPv6"):
                continue  # FQDN slices have no addresses to serve
            ports = tuple(
                (p.get("name") or "", p.get("protocol") or "TCP", int(p["port"]))
                for p in endpoint_slice.get("ports") or []
                if isinstance(p, dict) and p.get("port") is not None
            )
            for endpoint in endpoint_slice.get("endpoints") or []:
                if not _ready(endpoint, publish_not_ready):
                    continue
                hostname = (endpoint.get("hostname") or "").lower()
                for ip in endpoint.get("addresses") or []:
                    if ip in seen or not _valid_ip(ip):
                        continue  # one address may sit in two slices while they hand over
                    seen[ip] = _Endpoint(ip=ip, hostname=hostname or names.dashed(ip), ports=ports)
        return sorted(seen.values(), key=lambda e: e.ip)

    # -- queries ---------------------------------------------------------------------

    def in_zone(self, qname: str) -> bool:
        name = _fqdn(qname)
        return name == self.domain or name.endswith("." + self.domain)

    def lookup(self, qname: str, qtype: int) -> Answer | None:
        """The zone's answer, or None when the name is not ours (forward it upstream)."""
        name = _fqdn(qname)
        if name == self.domain or name.endswith("." + self.domain):
            answer = self._lookup_zone(name, qtype)
        elif name.endswith(".in-addr.arpa") or name.endswith(".ip6.arpa"):
            answer = self._lookup_reverse(name, qtype)
            if answer is None:
                return None
        else:
            return None
        if not answer.answers:
            answer.authority.append(self._soa_rr())
        return answer

    def _soa_rr(self) -> RR:
        self._soa.rdata.times = (self.serial, 7200, 1800, 86400, self.ttl)
        return self._soa

    def _records(self, name: str) -> list[RR]:
        owners = self._names.get(name)
        if not owners:
            return []
        if len(owners) == 1:
            return next(iter(owners.values()))
        return [rr for rrs in owners.values() for rr in rrs]

    def _lookup_reverse(self, name: str, qtype: int) -> Answer | None:
        records = self._records(name)
        if not records:
            return None  # fall through to upstream, as kubeadm's Corefile does
        return self._select(records, qtype)

    def _lookup_zone(self, name: str, qtype: int) -> Answer:
        labels = name[: -len(self.domain)].rstrip(".").split(".") if name != self.domain else []
        parsed = names.parse(labels)
        kind = parsed.kind
        if kind is Kind.APEX:
            return self._apex(qtype)
        if kind is Kind.TYPE:
            return Answer()
        if kind is Kind.DNS_VERSION:
            txt = RR(name, QTYPE.TXT, rdata=TXT(SCHEMA_VERSION), ttl=self.ttl)
            return Answer(answers=[txt] if qtype in (QTYPE.TXT, QTYPE.ANY) else [])
        if kind is Kind.NAMESERVER:
            return self._select(self._nameserver_addresses(), qtype)
        if kind is Kind.NAMESPACE:
            return Answer() if parsed.namespace in self._namespaces else Answer(rcode=RCODE.NXDOMAIN)
        if kind is Kind.POD:
            return self._pod(name, parsed, qtype)
        if kind in (Kind.SERVICE, Kind.ENDPOINT, Kind.PORT):
            records = self._records(name)
            if not records:
                return Answer(rcode=RCODE.NXDOMAIN)
            return self._select(records, qtype)
        return Answer(rcode=RCODE.NXDOMAIN)

    def _apex(self, qtype: int) -> Answer:
        answer = Answer()
        if qtype in (QTYPE.SOA, QTYPE.ANY):
            answer.answers.append(self._soa_rr())
        if qtype in (QTYPE.NS, QTYPE.ANY):
            answer.answers.append(RR(self.domain, QTYPE.NS, rdata=NS(f"ns.dns.{self.domain}"), ttl=self.ttl))
            answer.additional.extend(self._nameserver_addresses())
        return answer

    def _nameserver_addresses(self) -> list[RR]:
        name = f"ns.dns.{self.domain}"
        service = self._services.get(DNS_SERVICE)
        ips = (service or {}).get("spec", {}).get("clusterIPs") or []
        return [_address_rr(name, ip, self.ttl) for ip in ips if _valid_ip(ip)]

    def _pod(self, name: str, parsed: names.ParsedName, qtype: int) -> Answer:
        ip = names.pod_ip(parsed.name)
        if ip is None or parsed.namespace not in self._namespaces:
            return Answer(rcode=RCODE.NXDOMAIN)
        return self._select([_address_rr(name, str(ip), self.ttl)], qtype)

    def _select(self, records: Iterable[RR], qtype: int) -> Answer:
        """The records of one existing name that answer ``qtype`` (a CNAME answers every type)."""
        records = list(records)
        cnames = [rr for rr in records if rr.rtype == QTYPE.CNAME]
        if cnames and qtype != QTYPE.CNAME:
            return self._follow(cnames[0], qtype)
        chosen = records if qtype == QTYPE.ANY else [rr for rr in records if rr.rtype == qtype]
        answer = Answer(answers=chosen)
        if qtype in (QTYPE.SRV, QTYPE.ANY):
            answer.additional = self._srv_targets(chosen)
        return answer

    def _follow(self, cname: RR, qtype: int) -> Answer:
        """A CNAME and what its target answers: in the zone from here, outside it by the server."""
        chain = [cname]
        target = _fqdn(str(cname.rdata.label))
        for _ in range(CNAME_CHASE_LIMIT):
            if not self.in_zone(target):
                return Answer(answers=chain, chase=target)
            inner = self._lookup_zone(target, qtype)
            chain.extend(inner.answers)
            if inner.chase or not inner.answers or inner.answers[-1].rtype != QTYPE.CNAME:
                return Answer(
                    rcode=inner.rcode, answers=chain, additional=inner.additional, chase=inner.chase
                )
            target = _fqdn(str(inner.answers[-1].rdata.label))
        return Answer(rcode=RCODE.SERVFAIL, answers=chain)  # a CNAME loop inside the zone

    def _srv_targets(self, records: list[RR]) -> list[RR]:
        additional: list[RR] = []
        seen: set[str] = set()
        for rr in records:
            if rr.rtype != QTYPE.SRV:
                continue
            target = _fqdn(str(rr.rdata.target))
            if target in seen:
                continue
            seen.add(target)
            additional.extend(r for r in self._records(target) if r.rtype in (QTYPE.A, QTYPE.AAAA))
        return additional

    # -- for readiness and metrics ----------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {
            "services": len(self._services),
            "names": len(self._names),
            "namespaces": len(self._namespaces),
        }
