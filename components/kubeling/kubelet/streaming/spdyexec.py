"""Exec and attach over SPDY/3.1: what clients use when the WebSocket upgrade is not available.

After ``Upgrade: SPDY/3.1`` with ``X-Stream-Protocol-Version`` (v5, v4, v3,
v2 or v1 ``channel.k8s.io``) the client opens one SPDY stream per stdio
stream, each named by its ``streamtype`` header: ``error`` always, ``stdin``,
``stdout``, ``stderr`` as asked in the query, and ``resize`` for a TTY from
v3 on.  Once all have arrived (each answered with a SYN_REPLY) the process
starts: stdin DATA goes into it (a FIN closes its stdin), its output goes
out as DATA on stdout/stderr, resize streams carry JSON ``{"Width","Height"}``
objects back to back.  At the end v4+ write a ``metav1.Status`` to the error
stream (as the WebSocket protocol does; v5 is v4 here, its CLOSE signal is
WebSocket's own), older versions only a failure's message; every stream the
server writes then gets a FIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from kubeling.kubelet.runtime import RuntimeFailure, Stream
from kubeling.kubelet.streaming import channels, spdy
from kubeling.kubelet.streaming.portforward import ByteStream

log = logging.getLogger(__name__)

PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
)
STREAM_CREATION_TIMEOUT = 30.0


def negotiate(offered: list[str]) -> str | None:
    """The protocol to speak: the client's first choice we know; "channel.k8s.io" when it offers none."""
    if not offered:
        return "channel.k8s.io"
    return next((p for p in offered if p in PROTOCOLS), None)


def _json_objects(buffer: bytearray) -> list[dict[str, object]]:
    """Complete JSON objects at the start of ``buffer`` (removed from it); a partial one stays."""
    decoder = json.JSONDecoder()
    found = []
    text = buffer.decode(errors="replace")
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            break
        if isinstance(value, dict):
            found.append(value)
    del buffer[: len(text[:position].encode())]
    return found


class SpdyRemoteCommand:
    def __init__(
        self,
        conn: ByteStream,
        *,
        protocol: str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
        command: list[str] | None = None,
    ) -> None:
        self.conn = conn
        self.protocol = protocol
        self.stdin, self.stdout, self.stderr, self.tty = stdin, stdout, stderr and not tty, tty
        self.command = command
        self._codec = spdy.HeaderCodec()
        self._reader = spdy.FrameReader(self._codec)
        self._lock = asyncio.Lock()
        self.streams: dict[str, int] = {}
        self._resize_buffer = bytearray()

    @property
    def _json_status(self) -> bool:
        return self.protocol in ("v5.channel.k8s.io", "v4.channel.k8s.io")

    def _expected(self) -> set[str]:
        wanted = {"error"}
        wanted |= {
            name
            for name, on in (("stdin", self.stdin), ("stdout", self.stdout), ("stderr", self.stderr))
            if on
        }
        if self.tty and self.protocol not in ("v2.channel.k8s.io", "channel.k8s.io"):
            wanted.add("resize")
        return wanted

    async def _send(self, frame: spdy.Frame) -> None:
        async with self._lock:  # one compression state: encode and write in one order
            await self.conn.write(spdy.encode(frame, self._codec))

    async def serve(self, start: Callable[[], Awaitable[Stream]]) -> None:
        """Wait for the client's streams, run the process ``start`` gives, relay until it ends."""
        try:
            async with asyncio.timeout(STREAM_CREATION_TIMEOUT):
                pending: list[spdy.Frame] = []
                while not self._expected() <= set(self.streams):
                    data = await self.conn.read()
                    if not data:
                        return
                    for frame in self._reader.feed(data):
                        if isinstance(frame, spdy.SynStream):
                            await self._open(frame)
                        else:
                            pending.append(frame)
        except TimeoutError:
            log.info("exec: timed out waiting for the client to create streams")
            self.conn.close()
            return
        except (spdy.ProtocolError, ConnectionError, OSError):
            self.conn.close()
            return
        try:
            process = await start()
        except RuntimeFailure as exc:
            await self._finish(channels.error_status(str(exc)))
            return
        incoming = asyncio.create_task(self._incoming(process, pending))
        try:
            output = asyncio.create_task(self._output(process))
            done, _ = await asyncio.wait({output, incoming}, return_when=asyncio.FIRST_COMPLETED)
            if output in done and output.exception() is None:
                try:
                    status = channels.exit_status(await process.wait(), self.command)
                except RuntimeFailure as exc:
                    status = channels.error_status(str(exc))
                await self._finish(status)
            else:
                output.cancel()
                await asyncio.gather(output, return_exceptions=True)
        finally:
            incoming.cancel()
            await asyncio.gather(incoming, return_exceptions=True)
            with contextlib.suppress(Exception):
                await process.close()
            self.conn.close()

    async def _open(self, frame: spdy.SynStream) -> None:
        kind = (frame.headers.get("streamtype") or [""])[0]
        await self._send(spdy.SynReply(frame.stream_id, {}))
        if kind in ("error", "stdin", "stdout", "stderr", "resize"):
            self.streams[kind] = frame.stream_id
        if kind == "stdin" and self.protocol == "channel.k8s.io":
            self.stdin = False  # v1 closed stdin at once, as its kubelets did

    async def _output(self, process: Stream) -> None:
        async for fd, data in process.output():
            kind = "stdout" if self.tty or fd == channels.STDOUT else "stderr"
            stream_id = self.streams.get(kind)
            if stream_id is not None and getattr(self, kind):
                await self._send(spdy.DataFrame(stream_id, data))

    async def _incoming(self, process: Stream, pending: list[spdy.Frame]) -> None:
        stdin_open = self.stdin
        if not stdin_open and "stdin" in self.streams:
            await process.close_stdin()
        frames = list(pending)
        while True:
            for frame in frames:
                if isinstance(frame, spdy.DataFrame):
                    if frame.stream_id == self.streams.get("stdin") and stdin_open:
                        if frame.data:
                            await process.write_stdin(frame.data)
                        if frame.fin:
                            stdin_open = False
                            await process.close_stdin()
                    elif frame.stream_id == self.streams.get("resize"):
                        self._resize_buffer += frame.data
                        for size in _json_objects(self._resize_buffer):
                            with contextlib.suppress(TypeError, ValueError):
                                await process.resize(int(size["Width"]), int(size["Height"]))  # type: ignore[call-overload]
                elif isinstance(frame, spdy.Ping):
                    await self._send(frame)
                elif isinstance(frame, spdy.SynStream):
                    await self._open(frame)
                elif isinstance(frame, spdy.GoAway):
                    return
            data = await self.conn.read()
            if not data:
                return
            frames = self._reader.feed(data)

    async def _finish(self, status: dict[str, object]) -> None:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            error_id = self.streams.get("error")
            if error_id is not None:
                if self._json_status:
                    await self._send(spdy.DataFrame(error_id, json.dumps(status).encode()))
                elif status.get("status") != "Success":
                    await self._send(spdy.DataFrame(error_id, str(status.get("message", "")).encode()))
            for kind in ("error", "stdout", "stderr"):
                if kind in self.streams:
                    await self._send(spdy.DataFrame(self.streams[kind], b"", spdy.FLAG_FIN))
