"""A TTL-respecting answer cache in front of the forwarder (CoreDNS's ``cache 30``).

Entries are keyed by (name, type, class, DO bit).  A positive answer lives for
the smallest TTL among its records, a denial (NXDOMAIN or NODATA) for the
SOA's negative TTL (RFC 2308: min of the SOA's TTL and its MINIMUM); both are
capped at ``max_ttl``.  Denials without an SOA, SERVFAIL and truncated
answers are not cached.  A hit hands back a copy whose TTLs are lowered by
the entry's age, so clients never keep a record longer than its origin said.
Record TTLs are capped at ``max_ttl`` in the answer that passes through too.
The size is bounded: the least recently used entry goes first.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, DNSRecord

CacheKey = tuple[str, int, int, bool]


@dataclass
class _Entry:
    reply: DNSRecord
    stored: float
    expires: float
    denial: bool


def cache_key(request: DNSRecord) -> CacheKey:
    q = request.q
    do = any(rr.rtype == QTYPE.OPT and (rr.ttl & 0x8000) for rr in request.ar)
    return (str(q.qname).lower(), q.qtype, q.qclass, do)


def _cacheable_ttl(reply: DNSRecord) -> tuple[int, bool] | None:
    """(seconds, is_denial) for a reply worth caching, else None."""
    if reply.header.tc:
        return None
    rcode = reply.header.rcode
    if rcode == RCODE.NOERROR and reply.rr:
        records = [rr for rr in (*reply.rr, *reply.auth) if rr.rtype != QTYPE.OPT]
        return min(rr.ttl for rr in records), False
    if rcode in (RCODE.NOERROR, RCODE.NXDOMAIN):
        for rr in reply.auth:
            if rr.rtype == QTYPE.SOA:
                return min(rr.ttl, rr.rdata.times[4]), True
    return None


class AnswerCache:
    def __init__(
        self, *, capacity: int = 9984, max_ttl: int = 30, clock: Callable[[], float] = time.monotonic
    ):
        self.capacity = capacity
        self.max_ttl = max_ttl
        self.clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def sizes(self) -> dict[str, int]:
        denials = sum(1 for entry in self._entries.values() if entry.denial)
        return {"success": len(self._entries) - denials, "denial": denials}

    def get(self, request: DNSRecord) -> tuple[DNSRecord, bool] | None:
        """A reply for this request and whether it is a denial, or None on a miss."""
        key = cache_key(request)
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        age = int(now - entry.stored)
        reply = copy.deepcopy(entry.reply)
        reply.header.id = request.header.id
        reply.header.rd = request.header.rd
        reply.questions = list(request.questions)  # echo the asker's spelling of the name
        for rr in (*reply.rr, *reply.auth, *reply.ar):
            if rr.rtype != QTYPE.OPT:
                rr.ttl = max(0, rr.ttl - age)
        return reply, entry.denial

    def put(self, request: DNSRecord, reply: DNSRecord) -> None:
        if self.capacity <= 0:
            return
        cacheable = _cacheable_ttl(reply)
        if cacheable is None:
            return
        ttl, denial = cacheable
        ttl = min(ttl, self.max_ttl)
        if ttl <= 0:
            return
        for rr in (*reply.rr, *reply.auth, *reply.ar):
            if rr.rtype != QTYPE.OPT:
                rr.ttl = min(rr.ttl, self.max_ttl)  # what passes through the cache is capped, as CoreDNS's
        now = self.clock()
        key = cache_key(request)
        self._entries[key] = _Entry(reply=copy.deepcopy(reply), stored=now, expires=now + ttl, denial=denial)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
