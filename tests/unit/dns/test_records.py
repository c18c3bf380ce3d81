"""The cluster zone's records: which names exist, with which types, per upstream's DNS spec."""

from __future__ import annotations

import pytest
from dnslib import QTYPE, RCODE

from kubeling.dns.records import ClusterRecords
from tests.unit.dns.builders import make_endpoint, make_namespace, make_service, make_slice

ZONE = "cluster.local"


def rdata(answer, rtype: int | None = None) -> list[str]:
    return sorted(str(rr.rdata) for rr in answer.answers if rtype is None or rr.rtype == rtype)


@pytest.fixture
def records() -> ClusterRecords:
    model = ClusterRecords(domain=ZONE, ttl=30)
    for ns in ("default", "kube-system", "apps"):
        model.set_namespace(make_namespace(ns))
    model.set_service(
        make_service(
            "web", cluster_ips=["10.96.0.20"], ports=[{"name": "http", "port": 80, "protocol": "TCP"}]
        )
    )
    model.set_service(make_service("dual", cluster_ips=["10.96.0.21", "fd00::21"], ports=[{"port": 8080}]))
    model.set_service(
        make_service("db", "apps", headless=True, ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])
    )
    model.set_slice(
        make_slice(
            "db",
            "apps",
            endpoints=[
                make_endpoint("10.244.0.5", hostname="db-0"),
                make_endpoint("10.244.0.6", hostname="db-1"),
                make_endpoint("10.244.0.7"),  # no hostname: a generated name
                make_endpoint("10.244.0.8", ready=False),
            ],
            ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}],
        )
    )
    model.set_service(make_service("ext", external_name="example.org"))
    model.set_service(make_service("alias", external_name=f"web.default.svc.{ZONE}"))
    model.set_service(make_service("kube-dns", "kube-system", cluster_ips=["10.96.0.10"]))
    return model


@pytest.mark.parametrize(
    ("qname", "qtype", "expected"),
    [
        ("web.default.svc.cluster.local", QTYPE.A, ["10.96.0.20"]),
        ("WEB.Default.SVC.cluster.local.", QTYPE.A, ["10.96.0.20"]),
        ("dual.default.svc.cluster.local", QTYPE.A, ["10.96.0.21"]),
        ("dual.default.svc.cluster.local", QTYPE.AAAA, ["fd00::21"]),
        ("db.apps.svc.cluster.local", QTYPE.A, ["10.244.0.5", "10.244.0.6", "10.244.0.7"]),
        ("db-0.db.apps.svc.cluster.local", QTYPE.A, ["10.244.0.5"]),
        ("10-244-0-7.db.apps.svc.cluster.local", QTYPE.A, ["10.244.0.7"]),
        ("10-244-1-9.apps.pod.cluster.local", QTYPE.A, ["10.244.1.9"]),
        ("fd00--9.apps.pod.cluster.local", QTYPE.AAAA, ["fd00::9"]),
        ("ext.default.svc.cluster.local", QTYPE.CNAME, ["example.org."]),
        ("20.0.96.10.in-addr.arpa", QTYPE.PTR, ["web.default.svc.cluster.local."]),
        ("6.0.244.10.in-addr.arpa", QTYPE.PTR, ["db-1.db.apps.svc.cluster.local."]),
        ("7.0.244.10.in-addr.arpa", QTYPE.PTR, ["10-244-0-7.db.apps.svc.cluster.local."]),
        ("dns-version.cluster.local", QTYPE.TXT, ['"1.1.0"']),
        ("ns.dns.cluster.local", QTYPE.A, ["10.96.0.10"]),
    ],
    ids=lambda v: str(v),
)
def test_answers(records: ClusterRecords, qname: str, qtype: int, expected: list[str]) -> None:
    answer = records.lookup(qname, qtype)
    assert answer is not None
    assert answer.rcode == RCODE.NOERROR
    assert rdata(answer) == expected
    assert all(rr.ttl == 30 for rr in answer.answers)
    assert answer.authority == []


def test_srv_of_a_cluster_ip_service_points_at_the_service(records: ClusterRecords) -> None:
    answer = records.lookup("_http._tcp.web.default.svc.cluster.local", QTYPE.SRV)
    assert answer is not None
    assert rdata(answer) == ["0 100 80 web.default.svc.cluster.local."]
    assert [str(rr.rdata) for rr in answer.additional] == ["10.96.0.20"]


def test_srv_of_a_headless_service_has_one_record_per_ready_endpoint(records: ClusterRecords) -> None:
    answer = records.lookup("_pg._tcp.db.apps.svc.cluster.local", QTYPE.SRV)
    assert answer is not None
    assert rdata(answer) == [
        "0 33 5432 10-244-0-7.db.apps.svc.cluster.local.",
        "0 33 5432 db-0.db.apps.svc.cluster.local.",
        "0 33 5432 db-1.db.apps.svc.cluster.local.",
    ]
    assert sorted(str(rr.rdata) for rr in answer.additional) == ["10.244.0.5", "10.244.0.6", "10.244.0.7"]


def test_srv_of_the_service_name_lists_every_port(records: ClusterRecords) -> None:
    answer = records.lookup("dual.default.svc.cluster.local", QTYPE.SRV)
    assert answer is not None
    assert rdata(answer) == ["0 100 8080 dual.default.svc.cluster.local."]


@pytest.mark.parametrize(
    ("qname", "qtype"),
    [
        ("web.default.svc.cluster.local", QTYPE.AAAA),  # IPv4-only service
        ("web.default.svc.cluster.local", QTYPE.TXT),
        ("_http._tcp.web.default.svc.cluster.local", QTYPE.A),
        ("default.svc.cluster.local", QTYPE.A),  # a namespace: an empty non-terminal
        ("svc.cluster.local", QTYPE.A),
        ("pod.cluster.local", QTYPE.A),
        ("cluster.local", QTYPE.A),
        ("10-244-1-9.apps.pod.cluster.local", QTYPE.AAAA),
        ("dns-version.cluster.local", QTYPE.A),
    ],
    ids=lambda v: str(v),
)
def test_nodata_is_noerror_without_answers_and_with_the_soa(
    records: ClusterRecords, qname: str, qtype: int
) -> None:
    answer = records.lookup(qname, qtype)
    assert answer is not None
    assert (answer.rcode, answer.answers) == (RCODE.NOERROR, [])
    assert [rr.rtype for rr in answer.authority] == [QTYPE.SOA]
    assert str(answer.authority[0].rname) == "cluster.local."


@pytest.mark.parametrize(
    "qname",
    [
        "nope.default.svc.cluster.local",
        "web.nope.svc.cluster.local",
        "nope.svc.cluster.local",
        "db-9.db.apps.svc.cluster.local",
        "10-244-0-8.db.apps.svc.cluster.local",  # a not-ready endpoint has no name
        "_nope._tcp.web.default.svc.cluster.local",
        "_http._udp.web.default.svc.cluster.local",
        "http.tcp.web.default.svc.cluster.local",  # SRV labels need underscores
        "web.default.svc.cluster.local.default.svc.cluster.local",  # a search-path expansion
        "web.default.svc.cluster.local.svc.cluster.local",
        "a.b.c.d.e.f.svc.cluster.local",
        "foo.cluster.local",
        "not-an-ip.apps.pod.cluster.local",
        "10-244-1-9.nope.pod.cluster.local",  # the namespace must exist
        "x.10-244-1-9.apps.pod.cluster.local",
    ],
)
def test_nxdomain_for_names_that_do_not_exist(records: ClusterRecords, qname: str) -> None:
    answer = records.lookup(qname, QTYPE.A)
    assert answer is not None
    assert (answer.rcode, answer.answers) == (RCODE.NXDOMAIN, [])
    assert [rr.rtype for rr in answer.authority] == [QTYPE.SOA]


def test_external_name_answers_any_type_with_its_cname_to_chase(
    records: ClusterRecords,
) -> None:
    answer = records.lookup("ext.default.svc.cluster.local", QTYPE.A)
    assert answer is not None
    assert rdata(answer) == ["example.org."]
    assert answer.chase == "example.org"


def test_external_name_inside_the_zone_is_followed_here(records: ClusterRecords) -> None:
    answer = records.lookup("alias.default.svc.cluster.local", QTYPE.A)
    assert answer is not None
    assert [str(rr.rdata) for rr in answer.answers] == ["web.default.svc.cluster.local.", "10.96.0.20"]
    assert answer.chase == ""


def test_names_outside_the_zone_and_unknown_reverse_names_are_not_ours(records: ClusterRecords) -> None:
    assert records.lookup("example.org", QTYPE.A) is None
    assert records.lookup("1.1.168.192.in-addr.arpa", QTYPE.PTR) is None
    assert records.lookup("cluster.local.example.org", QTYPE.A) is None


def test_apex_answers_soa_and_ns(records: ClusterRecords) -> None:
    soa = records.lookup("cluster.local", QTYPE.SOA)
    assert soa is not None and [rr.rtype for rr in soa.answers] == [QTYPE.SOA]
    ns = records.lookup("cluster.local", QTYPE.NS)
    assert ns is not None and rdata(ns) == ["ns.dns.cluster.local."]
    assert [str(rr.rdata) for rr in ns.additional] == ["10.96.0.10"]


def test_changes_reach_answers(records: ClusterRecords) -> None:
    web = make_service("web", cluster_ips=["10.96.0.20"])
    records.delete_service(web)
    gone = records.lookup("web.default.svc.cluster.local", QTYPE.A)
    assert gone is not None and gone.rcode == RCODE.NXDOMAIN
    assert records.lookup("20.0.96.10.in-addr.arpa", QTYPE.PTR) is None

    records.set_slice(make_slice("db", "apps", endpoints=[make_endpoint("10.244.0.9", hostname="db-0")]))
    answer = records.lookup("db-0.db.apps.svc.cluster.local", QTYPE.A)
    assert answer is not None and rdata(answer) == ["10.244.0.9"]

    records.delete_slice(make_slice("db", "apps", endpoints=[]))
    empty = records.lookup("db.apps.svc.cluster.local", QTYPE.A)
    assert empty is not None and empty.rcode == RCODE.NXDOMAIN  # headless, no endpoints: as CoreDNS

    records.delete_namespace(make_namespace("apps"))
    ns = records.lookup("apps.svc.cluster.local", QTYPE.A)
    assert ns is not None and ns.rcode == RCODE.NXDOMAIN


def test_publish_not_ready_addresses_serves_every_endpoint() -> None:
    model = ClusterRecords(domain=ZONE)
    model.set_service(make_service("peers", headless=True, publish_not_ready=True))
    model.set_slice(make_slice("peers", endpoints=[make_endpoint("10.244.0.2", ready=False)]))
    answer = model.lookup("peers.default.svc.cluster.local", QTYPE.A)
    assert answer is not None and rdata(answer) == ["10.244.0.2"]


def test_an_address_in_two_slices_is_served_once_and_a_relabelled_slice_moves() -> None:
    model = ClusterRecords(domain=ZONE)
    model.set_service(make_service("a", headless=True))
    model.set_service(make_service("b", headless=True))
    first = make_slice("a", name="a-1", endpoints=[make_endpoint("10.244.0.2")])
    model.set_slice(first)
    model.set_slice(make_slice("a", name="a-2", endpoints=[make_endpoint("10.244.0.2")]))
    answer = model.lookup("a.default.svc.cluster.local", QTYPE.A)
    assert answer is not None and rdata(answer) == ["10.244.0.2"]

    moved = make_slice("b", name="a-1", endpoints=[make_endpoint("10.244.0.3")])
    model.update_slice(first, moved)
    b = model.lookup("b.default.svc.cluster.local", QTYPE.A)
    assert b is not None and rdata(b) == ["10.244.0.3"]


def test_a_custom_domain_and_ttl() -> None:
    model = ClusterRecords(domain="corp.example.", ttl=5)
    model.set_service(make_service("web", cluster_ips=["10.96.0.20"]))
    answer = model.lookup("web.default.svc.corp.example", QTYPE.A)
    assert answer is not None and [rr.ttl for rr in answer.answers] == [5]
    assert model.lookup("web.default.svc.cluster.local", QTYPE.A) is None
