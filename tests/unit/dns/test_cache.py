"""AnswerCache: TTLs respected and capped, denials cached by their SOA, bounded size."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _reply(name: str, *, ttl: int = 60, rcode: int = RCODE.NOERROR, soa_min: int | None = None) -> DNSRecord:
    request = DNSRecord.question(name)
    reply = request.reply()
    reply.header.rcode = rcode
    if soa_min is not None:
        reply.add_auth(RR("test", QTYPE.SOA, rdata=SOA("ns.test", "h.test", (1, 2, 3, 4, soa_min)), ttl=ttl))
    elif rcode == RCODE.NOERROR:
        reply.add_answer(RR(name, QTYPE.A, rdata=A("192.0.2.1"), ttl=ttl))
    return reply


def _cache(**kwargs):  # type: ignore[no-untyped-def]
    from kubeling.dns.cache import AnswerCache

    clock = FakeClock()
    return AnswerCache(clock=clock, **kwargs), clock


def test_positive_answers_age_and_expire_at_the_capped_ttl() -> None:
    cache, clock = _cache(max_ttl=30)
    request = DNSRecord.question("a.test")
    cache.put(request, _reply("a.test", ttl=60))
    clock.now += 10
    hit = cache.get(DNSRecord.question("A.TEST"))
    assert hit is not None
    reply, denial = hit
    assert (reply.rr[0].ttl, denial) == (20, False)
    clock.now += 21
    assert cache.get(request) is None


def test_denials_live_for_the_soa_minimum_and_servfail_is_not_cached() -> None:
    cache, clock = _cache(max_ttl=30)
    cache.put(DNSRecord.question("nx.test"), _reply("nx.test", rcode=RCODE.NXDOMAIN, ttl=60, soa_min=5))
    hit = cache.get(DNSRecord.question("nx.test"))
    assert hit is not None and hit[1] is True
    clock.now += 5
    assert cache.get(DNSRecord.question("nx.test")) is None
    cache.put(DNSRecord.question("bad.test"), _reply("bad.test", rcode=RCODE.SERVFAIL))
    assert cache.get(DNSRecord.question("bad.test")) is None
    cache.put(DNSRecord.question("nosoa.test"), _reply("nosoa.test", rcode=RCODE.NXDOMAIN))
    assert len(cache) == 0


def test_a_hit_carries_the_askers_id_and_the_size_is_bounded() -> None:
    cache, _ = _cache(capacity=2)
    for name in ("a.test", "b.test", "c.test"):
        cache.put(DNSRecord.question(name), _reply(name))
    assert len(cache) == 2
    assert cache.get(DNSRecord.question("a.test")) is None  # the oldest went first
    request = DNSRecord.question("c.test")
    hit = cache.get(request)
    assert hit is not None and hit[0].header.id == request.header.id
    assert cache.sizes() == {"success": 2, "denial": 0}
