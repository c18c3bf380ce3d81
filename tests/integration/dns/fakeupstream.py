"""A fake upstream resolver on 127.0.0.x for the forwarding tests (dnslib's threaded UDP+TCP server).

Names it knows (all under ``.test``): ``<anything>.test`` A 192.0.2.1 TTL 60,
``big.test`` truncated over UDP and three A records over TCP,
``slow.test`` answered after 2 s (past the forwarder's timeout),
``nx.test`` NXDOMAIN with an SOA.  It counts the questions it got.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

HOST = "127.0.0.54"


class _Resolver(BaseResolver):
    def __init__(self) -> None:
        self.questions: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        name = str(request.q.qname).lower().rstrip(".")
        protocol = getattr(handler, "protocol", "udp")
        with self.lock:
            self.questions[(name, protocol)] += 1
        reply = request.reply()
        reply.header.aa = 0
        if name == "slow.test":
            time.sleep(2.0)
        if name == "nx.test":
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR("test", QTYPE.SOA, rdata=SOA("ns.test", "h.test", (1, 2, 3, 4, 60)), ttl=60))
            return reply
        if name == "big.test":
            if protocol == "udp":
                reply.header.tc = 1
                return reply
            for i in range(3):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(f"192.0.2.{10 + i}"), ttl=60))
            return reply
        if request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
        return reply


def _free_port(host: str) -> int:
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for the fake upstream")


class FakeUpstream:
    def __init__(self) -> None:
        self.resolver = _Resolver()
        self.port = _free_port(HOST)
        logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        self._servers = [
            DNSServer(self.resolver, address=HOST, port=self.port, tcp=tcp, logger=logger)
            for tcp in (False, True)
        ]

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def asked(self, name: str, protocol: str = "udp") -> int:
        with self.resolver.lock:
            return self.resolver.questions[(name, protocol)]

    def start(self) -> FakeUpstream:
        for server in self._servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
