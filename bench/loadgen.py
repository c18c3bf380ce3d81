"""A lean HTTP/1.1-over-TLS load generator for the benches.

On a 2-core machine the load generator shares the CPU with the server it
measures.  aiohttp's client spends about as much CPU per request as half the
server does, so the benches drive write load through this instead: one
keep-alive connection per simulated client, requests written as prebuilt
bytes, responses read by status line and ``Content-Length`` only.  (Like
``wrk`` or ``hey`` for Go servers; the benches report its CPU apart.)
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


class HTTPError(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: Any = None  # uvloop's TLS transport subclasses none of asyncio's classes
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionResetError("connection closed by the server")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self.lost)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.lost is not None:
            raise self.lost
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


async def post_many(
    url: str,
    path: str,
    body_of: Callable[[int], bytes],
    count: int,
    *,
    token: str,
    ssl_context: ssl.SSLContext,
    concurrency: int,
    expect: int = 201,
) -> None:
    """POST ``body_of(n)`` for n in range(count) over ``concurrency`` connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    loop = asyncio.get_running_loop()
    prefix = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: "
    ).encode()
    queue = list(range(count))

    async def client() -> None:
        _, connection = await loop.create_connection(_Connection, host, port, ssl=ssl_context)
        try:
            while queue:
                n = queue.pop()
                body = body_of(n)
                status, answer = await connection.send(prefix + str(len(body)).encode() + b"\r\n\r\n" + body)
                if status != expect:
                    raise HTTPError(f"POST {path}: {status} {answer[:300]!r}")
        finally:
            if connection.transport is not None:
                connection.transport.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
