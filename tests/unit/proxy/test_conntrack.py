"""Which conntrack entries a sync flushes: UDP flows to removed endpoints or to newly served services."""

from __future__ import annotations

from kubeling.proxy.conntrack import Programmed, stale_udp_deletions
from kubeling.proxy.servicemodel import ServicePort, ServicePortName

DNS = ServicePortName("kube-system", "dns", "dns", "UDP")
WEB = ServicePortName("default", "web", "", "TCP")


def udp_service(**kwargs) -> ServicePort:
    return ServicePort(name=DNS, cluster_ip="10.96.0.10", port=53, **kwargs)


def test_removed_udp_endpoint_flows_are_deleted_per_service_address_and_node_port():
    service = udp_service(node_port=30053, external_ips=("192.0.2.1",))
    before = {DNS: Programmed(service, frozenset({"10.244.0.5", "10.244.0.6"}))}
    after = {DNS: Programmed(service, frozenset({"10.244.0.6"}))}
    assert stale_udp_deletions(before, after) == [
        ["-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--dst-nat", "10.244.0.5"],
        ["-D", "-p", "udp", "--orig-dst", "192.0.2.1", "--dst-nat", "10.244.0.5"],
        ["-D", "-p", "udp", "--orig-port-dst", "30053", "--dst-nat", "10.244.0.5"],
    ]


def test_a_udp_service_getting_its_first_endpoint_drops_the_cached_rejections():
    before = {DNS: Programmed(udp_service(), frozenset())}
    after = {DNS: Programmed(udp_service(), frozenset({"10.244.0.5"}))}
    # Only flows no DNAT rewrote (their reply comes from the service IP itself): after a restart
    # every service looks new, and the flows already NATed to an endpoint must survive it.
    unnatted = [["-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--reply-src", "10.96.0.10"]]
    assert stale_udp_deletions(before, after) == unnatted
    assert stale_udp_deletions({}, after) == unnatted
    node_port = udp_service(node_port=30053)
    assert stale_udp_deletions({}, {DNS: Programmed(node_port, frozenset({"10.244.0.5"}))}) == [
        *unnatted,
        ["-D", "-p", "udp", "--orig-port-dst", "30053", "--reply-port-src", "30053"],
    ]


def test_a_deleted_udp_service_flushes_its_endpoints_flows():
    before = {DNS: Programmed(udp_service(), frozenset({"10.244.0.5"}))}
    assert stale_udp_deletions(before, {}) == [
        ["-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--dst-nat", "10.244.0.5"]
    ]


def test_tcp_and_unchanged_services_need_nothing():
    web = ServicePort(name=WEB, cluster_ip="10.96.0.20", port=80)
    before = {
        WEB: Programmed(web, frozenset({"10.244.0.7"})),
        DNS: Programmed(udp_service(), frozenset({"1.1.1.1"})),
    }
    assert stale_udp_deletions(before, {**before, WEB: Programmed(web, frozenset())}) == []
