"""Relaying a backend's HTTP answer to the client as it arrives (logs, watches, aggregated APIs),
and which of the client's request headers a proxy may pass on."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
from aiohttp import web

# Hop-by-hop and per-connection headers: aiohttp sets its own for our side of the stream.
HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}
# The client's hop and its credentials: never forwarded to a backend.
CLIENT_HOP_HEADERS = {
    "host",
    "authorization",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


def forwardable_headers(
    headers: Iterable[tuple[str, str]], drop_prefixes: tuple[str, ...]
) -> list[tuple[str, str]]:
    """``headers`` minus :data:`CLIENT_HOP_HEADERS` and those starting with ``drop_prefixes``
    (identity assertions such as ``impersonate-``, lower case)."""
    return [
        (k, v)
        for k, v in headers
        if k.lower() not in CLIENT_HOP_HEADERS and not k.lower().startswith(drop_prefixes)
    ]


async def relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    """Stream ``upstream`` (status, headers, body chunks) back to ``request``'s client.

    A backend that ends its stream early ends ours too, without an error: a follow or watch
    stream ends that way."""
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for key, value in upstream.headers.items():
            if key.lower() not in HOP_HEADERS:
                response.headers.add(key, value)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            pass
        await response.write_eof()
    return response
