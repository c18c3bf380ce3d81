"""One DNS request in, one response out: the cluster zone first, the cached forwarder for the rest.

The order mirrors kubeadm's Corefile (``kubernetes`` → ``cache`` →
``forward``): names of the cluster zone (and known reverse names) are
answered here, authoritatively (AA), from :class:`ClusterRecords`; until the
informers have synced such names get SERVFAIL, as CoreDNS does, rather than
a wrong NXDOMAIN.  Everything else goes through :class:`AnswerCache` to the
:class:`Forwarder`, and SERVFAIL when no upstream answers.  An ExternalName
CNAME out of the zone is chased the same way.

:meth:`Resolver.answer_local` is synchronous so the UDP server can answer
cluster names without scheduling a task; its packed responses are memoised
by the request's bytes after the ID (which holds the flags, the question
with the asker's spelling of it and any EDNS option), and the memo is
dropped whenever the records change.

Over UDP a response is cut to the client's size (512 bytes, or its EDNS0
buffer size): first the additional section goes, then answers, and the TC
bit tells the client to ask again over TCP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import EDNS0, OPCODE, QTYPE, RCODE, RR, DNSError, DNSHeader, DNSRecord

from kubeling.dns.cache import AnswerCache
from kubeling.dns.forward import Forwarder, ForwardError
from kubeling.dns.metrics import DNSMetrics
from kubeling.dns.records import Answer, ClusterRecords

log = logging.getLogger(__name__)

UDP_MIN = 512
EDNS_ADVERTISED = 1232  # our own buffer size in replies, the DNS flag day 2020 value
MEMO_LIMIT = 20000


@dataclass(frozen=True)
class _Memo:
    wire: bytes
    qtype: str
    rcode: str


def _type_name(qtype: int) -> str:
    return str(QTYPE.get(qtype, "other"))


def _rcode_name(rcode: int) -> str:
    return str(RCODE.get(rcode, str(rcode)))


def _client_edns(request: DNSRecord) -> RR | None:
    return next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)


def _udp_limit(request: DNSRecord) -> int:
    opt = _client_edns(request)
    return max(UDP_MIN, min(opt.rclass, 65535)) if opt is not None else UDP_MIN


def fit(reply: DNSRecord, limit: int) -> bytes:
    """Pack ``reply`` into at most ``limit`` bytes, dropping records and setting TC when needed."""
    wire = reply.pack()
    if len(wire) <= limit:
        return wire
    options = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    reply.ar = options
    wire = reply.pack()
    if len(wire) <= limit:
        return wire
    answers = list(reply.rr)
    reply.auth = []
    reply.header.tc = 1
    low, high = 0, len(answers)  # the largest prefix of answers that fits
    while low < high:
        middle = (low + high + 1) // 2
        reply.rr = answers[:middle]
        if len(reply.pack()) <= limit:
            low = middle
        else:
            high = middle - 1
    reply.rr = answers[:low]
    return reply.pack()


class Resolver:
    def __init__(
        self,
        records: ClusterRecords,
        *,
        forwarder: Forwarder | None,
        cache: AnswerCache,
        metrics: DNSMetrics,
        synced: Callable[[], bool] = lambda: True,
    ) -> None:
        self.records = records
        self.forwarder = forwarder
        self.cache = cache
        self.metrics = metrics
        self.synced = synced
        self._memo: dict[bytes, _Memo] = {}
        self._memo_generation = -1

    # -- the synchronous path: cluster names ---------------------------------------

    def answer_local(self, data: bytes, *, udp: bool, family: str = "1") -> bytes | None:
        """The response if it can be given now; None if the request needs :meth:`answer`."""
        started = time.perf_counter()
        if self._memo_generation != self.records.generation:
            self._memo.clear()
            self._memo_generation = self.records.generation
        key = (b"u" if udp else b"t") + data[2:]
        memo = self._memo.get(key)
        if memo is not None:
            self._count(memo.qtype, memo.rcode, "kubernetes", udp, family, started)
            return data[:2] + memo.wire[2:]
        request = self._parse(data)
        if request is None:
            return self._header_only(data, RCODE.FORMERR) if len(data) >= 12 else None
        problem = self._check(request)
        if problem is not None:
            return self._finish(request, request.reply(), udp, family, started, "", rcode=problem)
        q = request.q
        if not self.synced() and self.records.in_zone(str(q.qname)):
            return self._finish(request, request.reply(), udp, family, started, "kubernetes", RCODE.SERVFAIL)
        answer = self.records.lookup(str(q.qname), q.qtype)
        if answer is None or answer.chase:
            return None
        wire = self._finish(request, self._reply(request, answer), udp, family, started, "kubernetes")
        if len(self._memo) < MEMO_LIMIT:
            self._memo[key] = _Memo(wire, _type_name(q.qtype), _rcode_name(answer.rcode))
        return wire

    # -- the asynchronous path: forwarding ------------------------------------------------

    async def answer(self, data: bytes, *, udp: bool, family: str = "1") -> bytes | None:
        local = self.answer_local(data, udp=udp, family=family)
        if local is not None:
            return local
        started = time.perf_counter()
        request = DNSRecord.parse(data)  # answer_local parsed it once already: it is well-formed
        q = request.q
        answer = self.records.lookup(str(q.qname), q.qtype) if self.synced() else None
        if answer is not None and answer.chase:
            reply = self._reply(request, answer)
            chased, _ = await self._resolve_upstream(DNSRecord.question(answer.chase, _type_name(q.qtype)))
            if chased is not None:
                for rr in chased.rr:
                    reply.add_answer(rr)
                if chased.header.rcode == RCODE.NXDOMAIN:
                    reply.header.rcode = RCODE.NXDOMAIN
            return self._finish(request, reply, udp, family, started, "kubernetes")
        reply, plugin = await self._resolve_upstream(request)
        if reply is None:
            failed = request.reply()
            failed.header.aa = 0  # not our zone: nothing authoritative about it
            return self._finish(request, failed, udp, family, started, plugin, RCODE.SERVFAIL)
        reply.header.id = request.header.id
        reply.header.aa = 0
        return self._finish(request, reply, udp, family, started, plugin, keep_edns=True)

    async def _resolve_upstream(self, request: DNSRecord) -> tuple[DNSRecord | None, str]:
        cached = self.cache.get(request)
        if cached is not None:
            reply, denial = cached
            self.metrics.cache_hits.inc(server=self.metrics.server, type="denial" if denial else "success")
            return reply, "cache"
        self.metrics.cache_misses.inc(server=self.metrics.server)
        if self.forwarder is None:
            return None, "forward"
        try:
            reply = await self.forwarder.forward(request)
        except ForwardError:
            return None, "forward"
        self.cache.put(request, reply)
        return reply, "forward"

    # -- building responses ------------------------------------------------------------

    @staticmethod
    def _parse(data: bytes) -> DNSRecord | None:
        try:
            return DNSRecord.parse(data)
        except (DNSError, ValueError, IndexError, UnicodeDecodeError):
            return None

    @staticmethod
    def _check(request: DNSRecord) -> int | None:
        if request.header.qr:
            return RCODE.FORMERR
        if request.header.opcode != OPCODE.QUERY:
            return RCODE.NOTIMP
        if len(request.questions) != 1:
            return RCODE.FORMERR
        return None

    @staticmethod
    def _header_only(data: bytes, rcode: int) -> bytes:
        header = DNSHeader(id=int.from_bytes(data[:2], "big"), qr=1, ra=1, rcode=rcode)
        return DNSRecord(header=header).pack()

    @staticmethod
    def _reply(request: DNSRecord, answer: Answer) -> DNSRecord:
        reply = request.reply()  # QR, AA and RA set, RD copied, the question echoed
        reply.header.rcode = answer.rcode
        reply.rr = list(answer.answers)
        reply.auth = list(answer.authority)
        reply.ar = list(answer.additional)
        return reply

    def _finish(
        self,
        request: DNSRecord,
        reply: DNSRecord,
        udp: bool,
        family: str,
        started: float,
        plugin: str,
        rcode: int | None = None,
        *,
        keep_edns: bool = False,
    ) -> bytes:
        if rcode is not None:
            reply.header.rcode = rcode
        if not keep_edns:
            reply.ar = [rr for rr in reply.ar if rr.rtype != QTYPE.OPT]
            if _client_edns(request) is not None:
                reply.add_ar(EDNS0(udp_len=EDNS_ADVERTISED))
        wire = fit(reply, _udp_limit(request)) if udp else fit(reply, 65535)
        qtype = _type_name(request.q.qtype) if request.questions else "other"
        self._count(qtype, _rcode_name(reply.header.rcode), plugin, udp, family, started)
        return wire

    def _count(self, qtype: str, rcode: str, plugin: str, udp: bool, family: str, started: float) -> None:
        m = self.metrics
        proto = "udp" if udp else "tcp"
        m.requests.inc(server=m.server, zone=".", proto=proto, family=family, type=qtype)
        m.responses.inc(server=m.server, zone=".", rcode=rcode, plugin=plugin)
        m.duration.observe(time.perf_counter() - started, server=m.server, zone=".", type=qtype)
