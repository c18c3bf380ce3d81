"""What kubeling's extension API servers (metrics-server, log-store) share when serving:
the TLS context and the request guard that puts :class:`~kubeling.metrics.auth.DelegatedAuth`
in front of every handler.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver.clientcerts import defer_verification
from kubeling.metrics.auth import DelegatedAuth, forbidden_message
from kubeling.pki.selfsigned import ensure_serving_cert

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_FOUND = "the server could not find the requested resource"


def serving_context(
    cert_file: str, key_file: str, cert_dir: str, hosts: list[str], name: str
) -> tuple[ssl.SSLContext, tempfile.TemporaryDirectory[str] | None]:
    """The server's TLS context: the given pair, else a self-signed one in ``cert_dir`` (or in a
    temporary directory, returned so the caller removes it when it stops)."""
    tempdir = None
    if not (cert_file and key_file):
        if cert_dir:
            directory = Path(cert_dir)
            directory.mkdir(parents=True, exist_ok=True)
        else:
            tempdir = tempfile.TemporaryDirectory(prefix=f"kubeling-{name}-")
            directory = Path(tempdir.name)
        _, crt_path, key_path = ensure_serving_cert(directory, hosts)
        cert_file, key_file = str(crt_path), str(key_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    # Client certificates (the aggregator's front-proxy pair) are checked by DelegatedAuth,
    # against CAs that may change at run time, not by the handshake.
    if not defer_verification(context):
        log.warning("cannot defer client certificate checks to the authenticator: tokens only")
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context, tempdir


def always_allowed(path: str, patterns: list[str]) -> bool:
    """``--authorization-always-allow-paths``: exact paths, or prefixes ending in ``*``."""
    return any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in patterns)


def guard(
    auth: DelegatedAuth,
    allow_paths: list[str],
    respond: Callable[[errors.StatusError], web.StreamResponse],
    *,
    group: str,
    version: str,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware: authenticate and authorize every request outside ``allow_paths``;
    refusals and unknown paths are answered as ``Status`` objects by ``respond``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if always_allowed(path, allow_paths):
            return await handler(request)
        try:
            user = await auth.authenticate(request)
            allowed, reason = await auth.authorize(user, request.method, path)
            if not allowed:
                message = forbidden_message(user, request.method, path, reason, group, version)
                raise errors.forbidden(message)
            return await handler(request)
        except errors.StatusError as exc:
            return respond(exc)
        except web.HTTPNotFound:
            return respond(errors.StatusError(404, "NotFound", NOT_FOUND))

    return middleware
