"""Forwarding of non-cluster names to upstream resolvers (CoreDNS's ``forward . /etc/resolv.conf``).

Each query goes over UDP to one upstream at a time, in order, with a
timeout per attempt; a truncated UDP answer is asked again over TCP; a
timeout or a network error moves on to the next upstream.  When every
upstream failed the caller answers SERVFAIL.  Upstream answers are handed
back as they came (rcode included), with the asker's ID.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from pathlib import Path

from dnslib import RCODE, DNSError, DNSRecord

log = logging.getLogger(__name__)

Upstream = tuple[str, int]


class ForwardError(Exception):
    """No upstream gave an answer."""


def parse_upstream(value: str) -> Upstream:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``[fd00::1]:53`` or ``fd00::1`` → (host, port)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, "53"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid upstream resolver {value!r} (ip, ip:port or [ipv6]:port)")
    return host, int(port)


def resolv_conf_nameservers(path: str | Path) -> list[Upstream]:
    """The ``nameserver`` lines of a resolv.conf, port 53."""
    servers: list[Upstream] = []
    for line in Path(path).read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            servers.append((fields[1].split("%", 1)[0], 53))
    return servers


class _UDPExchange(asyncio.DatagramProtocol):
    def __init__(self, expected_id: int) -> None:
        self.expected_id = expected_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        # A stray or spoofed datagram with another ID is ignored, not taken as the answer.
        if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == self.expected_id and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc or ConnectionError("socket closed"))


class Forwarder:
    def __init__(
        self,
        upstreams: list[Upstream],
        *,
        timeout: float = 2.0,
        on_attempt: Callable[[str, str], None] | None = None,  # (upstream, rcode or error)
    ) -> None:
        if not upstreams:
            raise ValueError("no upstream resolvers")
        self.upstreams = upstreams
        self.timeout = timeout
        self.on_attempt = on_attempt or (lambda upstream, outcome: None)

    async def forward(self, request: DNSRecord) -> DNSRecord:
        payload = request.pack()
        errors: list[str] = []
        for host, port in self.upstreams:
            name = f"{host}:{port}"
            try:
                data = await self._exchange_udp(host, port, payload, request.header.id)
                reply = DNSRecord.parse(data)
                if reply.header.tc:
                    reply = DNSRecord.parse(await self._exchange_tcp(host, port, payload))
            except (TimeoutError, OSError, DNSError, asyncio.IncompleteReadError, ValueError) as exc:
                self.on_attempt(name, "error")
                errors.append(f"{name}: {exc!r}")
                continue
            if reply.header.id != request.header.id or reply.q.qname != request.q.qname:
                self.on_attempt(name, "error")
                errors.append(f"{name}: answer does not match the question")
                continue
            self.on_attempt(name, _rcode_name(reply.header.rcode))
            return reply
        log.warning("forwarding %s failed: %s", request.q.qname, "; ".join(errors))
        raise ForwardError("; ".join(errors))

    async def _exchange_udp(self, host: str, port: int, payload: bytes, query_id: int) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UDPExchange(query_id), remote_addr=(host, port)
        )
        try:
            transport.sendto(payload)
            async with asyncio.timeout(self.timeout):
                return await protocol.reply
        finally:
            transport.close()

    async def _exchange_tcp(self, host: str, port: int, payload: bytes) -> bytes:
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(struct.pack("!H", len(payload)) + payload)
                await writer.drain()
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                return await reader.readexactly(length)
            finally:
                writer.close()


def _rcode_name(rcode: int) -> str:
    return str(RCODE.get(rcode, str(rcode)))
