"""Port-forward over SPDY/3.1: the server side of one connection.

The client opens two SPDY streams per forwarded connection, paired by the
``requestid`` header and both naming the ``port``: ``streamtype: error``
(usually first; the server writes a message there if it cannot forward,
then closes it) and ``streamtype: data`` (the bytes).  The server answers
each SYN_STREAM with a SYN_REPLY, dials the port inside the pod once the
data stream is there, and copies both ways: client DATA into the socket
(a FIN half-closes it), socket bytes into DATA frames; the socket's EOF
ends the pair with a FIN on both streams.

The SPDY connection itself arrives as a byte stream (:class:`ByteStream`):
the raw socket after an ``Upgrade: SPDY/3.1``, or the payloads of WebSocket
binary messages under ``SPDY/3.1+portforward.k8s.io`` — message boundaries
mean nothing there, exactly as on TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeling.kubelet.streaming import spdy

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
WEBSOCKET_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
_CHUNK = 32 * 1024


class ByteStream(Protocol):
    async def read(self) -> bytes:
        """Next bytes; b"" at the end."""
        ...

    async def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


# port -> (StreamReader, StreamWriter) connected to that port in the pod's network.
Dialer = Callable[[int], Awaitable[tuple[Any, Any]]]


@dataclass
class _Pair:
    request_id: str
    port: int
    error_id: int = 0
    data_id: int = 0
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)  # b"" = client closed its side
    task: asyncio.Task[None] | None = None


class PortForwardSession:
    def __init__(self, conn: ByteStream, dial: Dialer, *, pod: str = "") -> None:
        self._conn = conn
        self._dial = dial
        self._pod = pod
        self._codec = spdy.HeaderCodec()
        self._reader = spdy.FrameReader(self._codec)
        self._write_lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}
        self._last_id = 0

    async def send(self, frame: spdy.Frame) -> None:
        # Compression state is shared by every frame, so encode and write in one order.
        async with self._write_lock:
            await self._conn.write(spdy.encode(frame, self._codec))

    async def run(self) -> None:
        """Serve until the client goes away (EOF, GOAWAY or a protocol error)."""
        try:
            while True:
                data = await self._conn.read()
                if not data:
                    return
                for frame in self._reader.feed(data):
                    if not await self._handle(frame):
                        return
        except spdy.ProtocolError as exc:
            log.info("port-forward to %s: %s", self._pod, exc)
            with contextlib.suppress(Exception):
                await self.send(spdy.GoAway(self._last_id, 1))
        except (ConnectionError, OSError):
            pass
        finally:
            tasks = [p.task for p in self._pairs.values() if p.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._conn.close()

    async def _handle(self, frame: spdy.Frame) -> bool:
        if isinstance(frame, spdy.SynStream):
            await self._open(frame)
        elif isinstance(frame, spdy.DataFrame):
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_id:
                if frame.data:
                    pair.inbox.put_nowait(frame.data)
                if frame.fin:
                    pair.inbox.put_nowait(b"")
        elif isinstance(frame, spdy.Ping):
            await self.send(frame)
        elif isinstance(frame, spdy.RstStream):
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and pair.task is not None:
                pair.task.cancel()
        elif isinstance(frame, spdy.GoAway):
            return False
        return True

    async def _open(self, frame: spdy.SynStream) -> None:
        headers = {k: v[0] for k, v in frame.headers.items() if v}
        self._last_id = max(self._last_id, frame.stream_id)
        kind = headers.get("streamtype", "")
        request_id = headers.get("requestid") or str(frame.stream_id)
        try:
            port = int(headers.get("port", ""))
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            await self.send(spdy.RstStream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        if kind not in ("data", "error"):
            await self.send(spdy.RstStream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        await self.send(spdy.SynReply(frame.stream_id, {}))
        pair = self._pairs.setdefault(request_id, _Pair(request_id, port))
        self._by_stream[frame.stream_id] = pair
        if kind == "error":
            pair.error_id = frame.stream_id
        else:
            pair.data_id = frame.stream_id
            if frame.fin:
                pair.inbox.put_nowait(b"")
            pair.task = asyncio.create_task(self._forward(pair), name=f"portforward-{self._pod}-{port}")

    async def _forward(self, pair: _Pair) -> None:
        try:
            try:
                reader, writer = await self._dial(pair.port)
            except Exception as exc:  # any failure to connect is reported to the client, as upstream
                message = f"error forwarding port {pair.port} to pod {self._pod}: {exc}"
                log.info("%s", message)
                if pair.error_id:
                    await self.send(spdy.DataFrame(pair.error_id, message.encode()))
                return
            upstream = asyncio.create_task(self._client_to_pod(pair, writer))
            try:
                while chunk := await reader.read(_CHUNK):
                    await self.send(spdy.DataFrame(pair.data_id, chunk))
            except (ConnectionError, OSError):
                pass
            finally:
                upstream.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await upstream
                writer.close()
        finally:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                await self.send(spdy.DataFrame(pair.data_id, b"", spdy.FLAG_FIN))
                if pair.error_id:
                    await self.send(spdy.DataFrame(pair.error_id, b"", spdy.FLAG_FIN))
            self._pairs.pop(pair.request_id, None)
            self._by_stream.pop(pair.data_id, None)
            self._by_stream.pop(pair.error_id, None)

    async def _client_to_pod(self, pair: _Pair, writer: Any) -> None:
        while data := await pair.inbox.get():
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
