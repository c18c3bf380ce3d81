"""The DNS listeners: UDP and TCP on one address and port.

UDP: a datagram answered from the cluster zone is answered inline; one that
needs an upstream becomes a task (bounded by ``max_inflight``, beyond which
datagrams are dropped as a busy server would, so clients retry).  TCP: two-
byte length-prefixed messages, several per connection, answered in order;
a connection idle for ``tcp_idle_timeout`` seconds is closed (CoreDNS: 10 s).
Port 0 picks a free port, the same one for UDP and TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

from kubeling.dns.handler import Resolver

log = logging.getLogger(__name__)


def _family(addr: object) -> str:
    return "2" if isinstance(addr, tuple) and ":" in str(addr[0]) else "1"


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver, max_inflight: int) -> None:
        self.resolver = resolver
        self.max_inflight = max_inflight
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        family = _family(addr)
        try:
            wire = self.resolver.answer_local(data, udp=True, family=family)
        except Exception:
            log.exception("answering a UDP query from %s failed", addr)
            return
        if wire is not None:
            self._send(wire, addr)
            return
        if len(self.tasks) >= self.max_inflight:
            return
        task = asyncio.get_running_loop().create_task(self._answer_later(data, addr, family))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer_later(self, data: bytes, addr: tuple[str, int], family: str) -> None:
        try:
            wire = await self.resolver.answer(data, udp=True, family=family)
        except Exception:
            log.exception("answering a UDP query from %s failed", addr)
            return
        if wire is not None:
            self._send(wire, addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)


class DNSServer:
    def __init__(
        self,
        resolver: Resolver,
        *,
        bind_address: str = "0.0.0.0",
        port: int = 53,
        max_inflight: int = 1000,
        tcp_idle_timeout: float = 10.0,
    ) -> None:
        self.resolver = resolver
        self.bind_address = bind_address
        self.port = port
        self.max_inflight = max_inflight
        self.tcp_idle_timeout = tcp_idle_timeout
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: _UDPServer | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.bind_address else socket.AF_INET
        for attempt in range(10):
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UDPServer(self.resolver, self.max_inflight),
                local_addr=(self.bind_address, self.port),
                family=family,
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, self.bind_address, port, reuse_address=True
                )
            except OSError:
                transport.close()
                if self.port != 0 or attempt == 9:
                    raise
                continue  # the free UDP port was taken for TCP: pick another
            self._udp, self._udp_protocol, self.port = transport, protocol, port
            break
        log.info("serving DNS on %s:%d (udp, tcp)", self.bind_address, self.port)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            await self._tcp.wait_closed()
            self._tcp = None
        pending = list(self._connections) + list(self._udp_protocol.tasks if self._udp_protocol else [])
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        family = _family(writer.get_extra_info("peername"))
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle_timeout):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(length)
                wire = await self.resolver.answer(data, udp=False, family=family)
                if wire is None:
                    break  # not even a header: close, as upstream servers do
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("serving a TCP DNS connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
