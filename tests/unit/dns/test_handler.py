"""Resolver: response flags and codes, truncation, SERVFAIL before sync and without upstreams."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSRecord

from kubeling.dns.cache import AnswerCache
from kubeling.dns.handler import Resolver
from kubeling.dns.metrics import DNSMetrics
from kubeling.dns.records import ClusterRecords
from tests.unit.dns.builders import make_endpoint, make_namespace, make_service, make_slice


def _resolver(*, synced: bool = True) -> Resolver:
    records = ClusterRecords()
    records.set_namespace(make_namespace("default"))
    records.set_service(make_service("web", cluster_ips=["10.96.0.20"]))
    records.set_service(make_service("many", headless=True))
    endpoints = [make_endpoint(f"10.244.0.{i}") for i in range(1, 81)]
    records.set_slice(make_slice("many", endpoints=endpoints))
    return Resolver(records, forwarder=None, cache=AnswerCache(), metrics=DNSMetrics(), synced=lambda: synced)


def _ask(resolver: Resolver, request: DNSRecord, *, udp: bool = True) -> DNSRecord:
    wire = resolver.answer_local(request.pack(), udp=udp)
    assert wire is not None
    return DNSRecord.parse(wire)


def test_cluster_answers_are_authoritative_and_keep_the_id_through_the_memo() -> None:
    resolver = _resolver()
    for _ in range(2):  # the second comes from the memo of packed answers
        request = DNSRecord.question("web.default.svc.cluster.local")
        reply = _ask(resolver, request)
        assert (reply.header.id, reply.header.aa, reply.header.rcode) == (request.header.id, 1, RCODE.NOERROR)
        assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.20"]
    resolver.records.delete_service(make_service("web"))
    gone = _ask(resolver, DNSRecord.question("web.default.svc.cluster.local"))
    assert gone.header.rcode == RCODE.NXDOMAIN  # a change drops the memo


def test_udp_truncates_to_512_or_the_edns_size_and_tcp_does_not() -> None:
    resolver = _resolver()
    name = "many.default.svc.cluster.local"
    udp = _ask(resolver, DNSRecord.question(name))
    assert udp.header.tc == 1 and 0 < len(udp.rr) < 80 and len(udp.pack()) <= 512
    request = DNSRecord.question(name)
    request.add_ar(EDNS0(udp_len=4096))
    edns = _ask(resolver, request)
    assert (edns.header.tc, len(edns.rr)) == (0, 80)
    assert [rr.rtype for rr in edns.ar] == [QTYPE.OPT]
    tcp = _ask(resolver, DNSRecord.question(name), udp=False)
    assert (tcp.header.tc, len(tcp.rr)) == (0, 80)


def test_cluster_names_before_sync_are_servfail() -> None:
    reply = _ask(_resolver(synced=False), DNSRecord.question("web.default.svc.cluster.local"))
    assert reply.header.rcode == RCODE.SERVFAIL


def test_bad_requests() -> None:
    resolver = _resolver()
    notify = DNSRecord.question("web.default.svc.cluster.local")
    notify.header.opcode = OPCODE.NOTIFY
    assert _ask(resolver, notify).header.rcode == RCODE.NOTIMP
    garbage = b"\x12\x34" + b"\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff\xff"
    reply = DNSRecord.parse(resolver.answer_local(garbage, udp=True) or b"")
    assert (reply.header.id, reply.header.rcode) == (0x1234, RCODE.FORMERR)
    assert resolver.answer_local(b"\x00", udp=True) is None


@pytest.mark.asyncio
async def test_outside_names_without_upstreams_are_servfail() -> None:
    resolver = _resolver()
    request = DNSRecord.question("example.org")
    assert resolver.answer_local(request.pack(), udp=True) is None
    reply = DNSRecord.parse(await resolver.answer(request.pack(), udp=True) or b"")
    assert (reply.header.rcode, reply.header.aa) == (RCODE.SERVFAIL, 0)
