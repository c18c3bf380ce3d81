"""Exec and attach sessions: a runtime :class:`~kubeling.kubelet.runtime.Stream` on a channel WebSocket.

Two pumps run side by side: the process's output into channels 1/2 (a TTY
merges stderr into stdout, as upstream), and the client's messages into
the process (stdin, resize, v5 close of stdin).  When the output ends the
exit code goes out on the error channel and the WebSocket closes; when the
client leaves first the runtime stream is closed (an exec's process is the
runtime's to end; an attach merely detaches).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from kubeling.kubelet.runtime import RuntimeFailure, Stream
from kubeling.kubelet.streaming import channels

log = logging.getLogger(__name__)


async def serve(
    ws: web.WebSocketResponse,
    stream: Stream,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    command: list[str] | None = None,
) -> None:
    send = sender(ws)
    output = asyncio.create_task(_pump_output(send, stream, stdout=stdout, stderr=stderr, tty=tty))
    incoming = asyncio.create_task(_pump_input(ws, stream, stdin=stdin))
    try:
        done, _ = await asyncio.wait({output, incoming}, return_when=asyncio.FIRST_COMPLETED)
        if output in done and not isinstance(output.exception(), ConnectionError):  # else the client left
            try:
                output.result()
                status = channels.exit_status(await stream.wait(), command)
            except RuntimeFailure as exc:
                status = channels.error_status(str(exc))
            with contextlib.suppress(ConnectionError, RuntimeError):
                await send(channels.ERROR, json.dumps(status).encode())
    finally:
        for task in (output, incoming):
            task.cancel()
        await asyncio.gather(output, incoming, return_exceptions=True)
        with contextlib.suppress(Exception):
            await stream.close()
        await ws.close()


Send = Callable[[int, bytes], Awaitable[None]]


def sender(ws: web.WebSocketResponse) -> Send:
    """Write one channel's data as the negotiated protocol frames it."""
    if ws.ws_protocol == channels.V4_BASE64:

        async def send_text(channel: int, data: bytes) -> None:
            await ws.send_str(channels.frame_text(channel, data))

        return send_text

    async def send_binary(channel: int, data: bytes) -> None:
        await ws.send_bytes(channels.frame(channel, data))

    return send_binary


async def _pump_output(send: Send, stream: Stream, *, stdout: bool, stderr: bool, tty: bool) -> None:
    async for fd, data in stream.output():
        if tty or fd == channels.STDOUT:
            if stdout:
                await send(channels.STDOUT, data)
        elif stderr:
            await send(channels.STDERR, data)


async def _pump_input(ws: web.WebSocketResponse, stream: Stream, *, stdin: bool) -> None:
    stdin_open = stdin
    async for message in ws:
        if message.type == WSMsgType.BINARY:
            parsed = channels.parse(message.data)
        elif message.type == WSMsgType.TEXT:
            parsed = channels.parse_text(message.data)
        else:
            continue
        if parsed is None:
            continue
        if parsed.channel == channels.STDIN and stdin_open and parsed.data:
            await stream.write_stdin(parsed.data)
        elif parsed.channel == channels.RESIZE:
            size = channels.parse_resize(parsed.data)
            if size is not None:
                await stream.resize(*size)
        elif channels.closed_channel(parsed) == channels.STDIN and stdin_open:
            stdin_open = False
            await stream.close_stdin()
    # The WebSocket closed: the client is gone, and the session ends with it.
