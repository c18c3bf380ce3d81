"""Byte streams to and from the Docker Engine, spoken over its unix socket with asyncio.

The docker SDK is synchronous and its hijacked sockets are blocking, so the
long-lived streams (exec/attach sessions, followed logs) talk to the Engine
API directly:

- exec and attach: ``POST`` with ``Connection: Upgrade`` / ``Upgrade: tcp``;
  the engine answers ``101 UPGRADED`` and the connection becomes the raw
  stream.  Closing our write side (``write_eof``) is how stdin ends.
- logs: a plain ``GET /containers/{id}/logs`` read as it arrives (chunked).

Without a tty the engine multiplexes stdout and stderr: every frame starts
with an 8-byte header — the stream (1 stdout, 2 stderr), three zero bytes,
the payload length as a big-endian uint32.  :class:`Demuxer` undoes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

API_VERSION = "v1.41"  # Docker Engine 20.10


class Demuxer:
    """Incremental parser of the engine's multiplexed stream format."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            stream, size = self._buf[0], struct.unpack(">I", self._buf[4:8])[0]
            if len(self._buf) < 8 + size:
                break
            frames.append((stream, bytes(self._buf[8 : 8 + size])))
            del self._buf[: 8 + size]
        return frames


def frame(stream: int, payload: bytes) -> bytes:
    """One multiplexed frame (tests and fakes build streams with it)."""
    return struct.pack(">BxxxI", stream, len(payload)) + payload


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def _read_chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        async for chunk in _read_chunked(reader):
            yield chunk
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while chunk := await reader.read(65536):
            yield chunk


class EngineError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"docker engine answered {status}: {message}")
        self.status = status


async def request(
    socket_path: str,
    method: str,
    path: str,
    query: dict[str, Any] | None = None,
    body: Any = None,
    *,
    upgrade: bool = False,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]:
    """Send one request on a fresh connection; returns the connection positioned at the body.

    Raises EngineError for error statuses (the engine's JSON ``message``)."""
    reader, writer = await asyncio.open_unix_connection(socket_path, limit=1 << 20)
    url = f"/{API_VERSION}{path}" + (f"?{urlencode(query)}" if query else "")
    payload = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {url} HTTP/1.1", "Host: docker", f"Content-Length: {len(payload)}"]
    if body is not None:
        head.append("Content-Type: application/json")
    if upgrade:
        head += ["Connection: Upgrade", "Upgrade: tcp"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    await writer.drain()
    try:
        status, headers = await _read_head(reader)
        if status >= 400:
            text = b"".join([c async for c in _read_body(reader, headers)]).decode(errors="replace")
            with contextlib.suppress(ValueError):
                text = json.loads(text).get("message", text)
            raise EngineError(status, text)
    except BaseException:
        writer.close()
        raise
    return reader, writer, headers


class HijackedStream:
    """An exec or attach session over an upgraded connection (implements runtime.Stream)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tty: bool,
        resize: Callable[[int, int], Awaitable[None]],
        exit_code: Callable[[], Awaitable[int]],
    ) -> None:
        self._reader, self._writer, self._tty = reader, writer, tty
        self._resize, self._exit_code = resize, exit_code
        self._done = asyncio.Event()
        self.exec_id = ""  # set for exec sessions

    async def write_stdin(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close_stdin(self) -> None:
        if self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        demux = Demuxer()
        try:
            while chunk := await self._reader.read(65536):
                if self._tty:
                    yield 1, chunk
                else:
                    for item in demux.feed(chunk):
                        yield item
        finally:
            self._done.set()

    async def resize(self, width: int, height: int) -> None:
        await self._resize(width, height)

    async def wait(self) -> int:
        await self._done.wait()
        return await self._exit_code()

    async def close(self) -> None:
        self._done.set()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


async def logs(
    socket_path: str,
    container_id: str,
    *,
    tty: bool,
    follow: bool,
    tail_lines: int | None,
    since: float | None,
    timestamps: bool,
    limit_bytes: int | None,
) -> AsyncIterator[bytes]:
    """The container's log, stdout and stderr interleaved as written, at most ``limit_bytes``."""
    query: dict[str, Any] = {"stdout": 1, "stderr": 1, "follow": int(follow), "timestamps": int(timestamps)}
    query["tail"] = "all" if tail_lines is None else max(tail_lines, 0)
    if since is not None:
        query["since"] = f"{since:.9f}"
    reader, writer, headers = await request(socket_path, "GET", f"/containers/{container_id}/logs", query)
    left = limit_bytes if limit_bytes is not None and limit_bytes > 0 else None
    demux = Demuxer()
    try:
        async for chunk in _read_body(reader, headers):
            for _, data in [(1, chunk)] if tty else demux.feed(chunk):
                if left is not None:
                    data = data[:left]
                    left -= len(data)
                if data:
                    yield data
                if left == 0:
                    return
    finally:
        writer.close()
