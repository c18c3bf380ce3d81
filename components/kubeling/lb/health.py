"""Probing an apiserver: ``GET /readyz`` over TLS with no client certificate (upstream lets
anonymous users read it), or a bare TCP connect.  A probe returns None when healthy, else why not."""

from __future__ import annotations

import asyncio
import ssl
from enum import StrEnum

from kubeling.lb.backends import Backend


class Mode(StrEnum):
    HTTPS = "https"
    TCP = "tcp"


def client_context(ca_file: str = "") -> ssl.SSLContext:
    """Verify the apiserver against ``ca_file`` when given; else accept any certificate (the probe
    carries no secret and only reads a status line)."""
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
        context.check_hostname = False  # backends are dialled by IP; the CA is what is trusted
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def probe(
    backend: Backend, *, mode: Mode, timeout: float, path: str = "/readyz", tls: ssl.SSLContext | None = None
) -> str | None:
    try:
        return await asyncio.wait_for(_probe(backend, mode, path, tls), timeout)
    except TimeoutError:
        return f"no answer in {timeout:g}s"
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
        return str(exc) or type(exc).__name__


async def _probe(backend: Backend, mode: Mode, path: str, tls: ssl.SSLContext | None) -> str | None:
    use_tls = (tls or client_context()) if mode is Mode.HTTPS else None
    reader, writer = await asyncio.open_connection(backend.host, backend.port, ssl=use_tls)
    try:
        if mode is Mode.TCP:
            return None
        request = f"GET {path} HTTP/1.1\r\nHost: {backend}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status_line = (await reader.readline()).decode(errors="replace").strip()
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            return f"not an HTTP answer: {status_line[:80]!r}"
        return None if parts[1] == "200" else f"{path} answered {parts[1]}"
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
