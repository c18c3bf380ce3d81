"""Names of the cluster zone: how a query name splits into its parts.

Upstream's DNS spec (and CoreDNS's kubernetes plugin, which this follows)
reads the labels left of the cluster domain from the right::

    <type>                              svc | pod            (an empty non-terminal)
    <ns>.<type>                         a namespace          (exists iff the namespace does)
    <name>.<ns>.<type>                  a Service or a pod (a-b-c-d)
    <endpoint>.<svc>.<ns>.svc           one endpoint of a Service
    _<port>._<proto>.<svc>.<ns>.svc     the SRV name of a named port

Anything longer, a ``pod`` name with more than three labels, or an unknown
type is a name that cannot exist: NXDOMAIN, which is also what a resolver's
search path produces (``web.ns.svc.cluster.local.ns.svc.cluster.local``).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass


class Kind(enum.Enum):
    APEX = "apex"  # the cluster domain itself
    TYPE = "type"  # svc.<zone>, pod.<zone>
    NAMESPACE = "namespace"
    SERVICE = "service"
    ENDPOINT = "endpoint"
    PORT = "port"
    POD = "pod"
    DNS_VERSION = "dns-version"  # dns-version.<zone> TXT (the spec's schema version)
    NAMESERVER = "nameserver"  # ns.dns.<zone>, the DNS service itself (CoreDNS)
    INVALID = "invalid"


@dataclass(frozen=True)
class ParsedName:
    kind: Kind
    namespace: str = ""
    name: str = ""  # service name, or the pod's dashed IP
    endpoint: str = ""
    port: str = ""  # without the leading underscore
    protocol: str = ""  # tcp, udp, sctp


INVALID = ParsedName(Kind.INVALID)


def parse(labels: list[str]) -> ParsedName:
    """Classify the labels left of the zone (lower-case, leftmost first)."""
    count = len(labels)
    if count == 0:
        return ParsedName(Kind.APEX)
    if labels == ["dns-version"]:
        return ParsedName(Kind.DNS_VERSION)
    if labels == ["ns", "dns"]:
        return ParsedName(Kind.NAMESERVER)
    kind = labels[-1]
    if kind not in ("svc", "pod") or count > 5 or (kind == "pod" and count > 3):
        return INVALID
    if count == 1:
        return ParsedName(Kind.TYPE)
    namespace = labels[-2]
    if count == 2:
        return ParsedName(Kind.NAMESPACE, namespace=namespace)
    name = labels[-3]
    if count == 3:
        return ParsedName(Kind.POD if kind == "pod" else Kind.SERVICE, namespace=namespace, name=name)
    if count == 4:
        return ParsedName(Kind.ENDPOINT, namespace=namespace, name=name, endpoint=labels[0])
    port, protocol = labels[0], labels[1]
    if not (port.startswith("_") and protocol.startswith("_")) or len(port) < 2 or len(protocol) < 2:
        return INVALID
    return ParsedName(Kind.PORT, namespace=namespace, name=name, port=port[1:], protocol=protocol[1:])


def pod_ip(dashed: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``10-244-1-7`` → 10.244.1.7, ``fd00--7`` → fd00::7 (as CoreDNS decodes pod names); None if no IP."""
    if dashed.count("-") == 3 and "--" not in dashed:
        text = dashed.replace("-", ".")
    else:
        text = dashed.replace("-", ":")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def dashed(ip: str) -> str:
    """The generated endpoint name of an address without a hostname: 10.0.0.1 → 10-0-0-1."""
    return ip.replace(".", "-").replace(":", "-")
