"""Port-forward on a channel WebSocket (``v4.channel.k8s.io``): the older protocol other clients speak.

The ports are named up front in the query (``port``, or the API's
``ports``; repeated or comma-separated).  Port number i gets two channels:
data ``2i`` and error ``2i+1``; the server opens each by writing the port as
a little-endian uint16 on both, then relays the pod's bytes as data-channel
messages and the client's data-channel messages into the pod.  A port that
cannot be dialled gets a message on its error channel.  There is one pod
connection per port for the WebSocket's life, and no half-close: the session
ends when every port's connection ended or the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

from aiohttp import WSMsgType, web

from kubeling.kubelet.streaming.portforward import Dialer

PROTOCOL = "v4.channel.k8s.io"
_CHUNK = 32 * 1024


def parse_ports(values: list[str]) -> list[int]:
    """Ports from the query values; ValueError names the bad one."""
    ports = []
    for value in values:
        for part in value.split(","):
            port = int(part) if part.strip().isdigit() else -1
            if not 0 < port < 65536:
                raise ValueError(f"unable to parse {value!r} as a port")
            ports.append(port)
    if not ports:
        raise ValueError('query parameter "port" is required')
    return ports


async def serve(ws: web.WebSocketResponse, ports: list[int], dial: Dialer, *, pod: str = "") -> None:
    inboxes: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in ports]
    for index, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await ws.send_bytes(bytes((2 * index,)) + prefix)
        await ws.send_bytes(bytes((2 * index + 1,)) + prefix)
    pairs = [
        asyncio.create_task(_forward(ws, i, port, inboxes[i], dial, pod)) for i, port in enumerate(ports)
    ]
    reader = asyncio.create_task(_read(ws, inboxes))
    all_pairs = asyncio.gather(*pairs, return_exceptions=True)
    try:
        await asyncio.wait({reader, all_pairs}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*pairs, reader):
            task.cancel()
        await asyncio.gather(all_pairs, reader, return_exceptions=True)
        await ws.close()


async def _read(ws: web.WebSocketResponse, inboxes: list[asyncio.Queue[bytes]]) -> None:
    async for message in ws:
        if message.type != WSMsgType.BINARY or len(message.data) < 2:
            continue
        channel = message.data[0]
        if channel % 2 == 0 and channel // 2 < len(inboxes):
            inboxes[channel // 2].put_nowait(bytes(message.data[1:]))


async def _forward(
    ws: web.WebSocketResponse, index: int, port: int, inbox: asyncio.Queue[bytes], dial: Dialer, pod: str
) -> None:
    try:
        reader, writer = await dial(port)
    except Exception as exc:  # reported to the client, as upstream does
        message = f"error forwarding port {port} to pod {pod}: {exc}"
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(bytes((2 * index + 1,)) + message.encode())
        return
    upstream = asyncio.create_task(_client_to_pod(inbox, writer))
    try:
        while chunk := await reader.read(_CHUNK):
            await ws.send_bytes(bytes((2 * index,)) + chunk)
    except (ConnectionError, OSError, RuntimeError):
        pass
    finally:
        upstream.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upstream
        writer.close()


async def _client_to_pod(inbox: asyncio.Queue[bytes], writer: Any) -> None:
    while True:
        writer.write(await inbox.get())
        await writer.drain()
