"""Take over an aiohttp server connection after a ``101 Switching Protocols``.

aiohttp speaks WebSocket itself but nothing else that upgrades (SPDY/3.1),
and a proxy must not interpret the upgraded bytes at all.  :func:`hijack`
sends the 101 with the headers given, then routes every byte the client
sends into a queue and lets the caller write raw bytes back, the way
aiohttp's own WebSocket support plugs a parser into the connection.  The
handler must keep running while the connection is in use; when it returns
aiohttp closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from aiohttp import web

# Above this much unread client data, stop reading the socket until the consumer catches up.
_HIGH_WATER = 1 << 20


class _Switched(web.StreamResponse):
    """A 101 answer: no length, no chunking — the bytes after it are the new protocol's."""

    _length_check = False


class UpgradedConnection:
    """Raw bytes both ways over a connection whose HTTP part is over."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self.response = response  # what the handler returns once the connection is done
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._paused = False
        self._eof = False

    # aiohttp's protocol calls these two (the "parser" interface).
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._queue.put_nowait(bytes(data))
            self._queued += len(data)
            transport = self._request.transport
            if self._queued > _HIGH_WATER and transport is not None and not self._paused:
                transport.pause_reading()
                self._paused = True
        return False, b""

    def feed_eof(self) -> None:
        self._queue.put_nowait(b"")

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it closed."""
        if self._eof:
            return b""
        data = await self._queue.get()
        self._queued -= len(data)
        if self._paused and self._queued < _HIGH_WATER // 2:
            transport = self._request.transport
            if transport is not None:
                transport.resume_reading()
            self._paused = False
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        transport = self._request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client connection closed")
        transport.write(data)
        drain = getattr(self._request.protocol, "_drain_helper", None)
        if drain is not None and transport.get_write_buffer_size() > _HIGH_WATER:
            await drain()

    def close(self) -> None:
        transport = self._request.transport
        if transport is not None:
            transport.close()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(b"")


async def hijack(request: web.Request, headers: Mapping[str, str]) -> UpgradedConnection:
    """Answer 101 with ``headers`` and return the raw connection."""
    response = _Switched(status=101, headers=dict(headers))
    response.force_close()
    await response.prepare(request)
    connection = UpgradedConnection(request, response)
    request.protocol.set_parser(connection)  # type: ignore[arg-type]
    request.protocol.keep_alive(False)
    return connection
