"""``/healthz``, ``/livez`` and ``/readyz`` for the daemons that are not the apiserver.

controller-manager (port 10257) and scheduler (10259) serve these over HTTPS
as upstream does, so static-pod liveness probes and ``curl -k`` work the
same way.  Each named check is a callable returning None when healthy or a
reason; ``?verbose`` lists every check (``[+]leaderElection ok``), a failing
check answers 500 with ``[-]name failed: reason``, and ``/healthz/<name>``
runs one check.  Without ``--tls-cert-file`` a self-signed pair is made in
``--cert-dir`` (or a private temporary directory), as upstream does.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from kubeling.pki.selfsigned import ensure_serving_cert

log = logging.getLogger(__name__)

Check = Callable[[], str | None]


class HealthServer:
    def __init__(
        self,
        *,
        bind_address: str = "0.0.0.0",
        port: int,
        checks: dict[str, Check] | None = None,
        tls_cert_file: str = "",
        tls_private_key_file: str = "",
        cert_dir: str = "",
    ) -> None:
        self.bind_address = bind_address
        self.port = port
        self.checks: dict[str, Check] = {"ping": lambda: None, **(checks or {})}
        self.tls_cert_file = tls_cert_file
        self.tls_private_key_file = tls_private_key_file
        self.cert_dir = cert_dir
        self._runner: web.AppRunner | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    async def start(self) -> None:
        """Serve until :meth:`stop`; port 0 disables serving, as upstream's --secure-port=0."""
        if self.port == 0:
            return
        app = web.Application()
        for endpoint in ("healthz", "livez", "readyz"):
            app.router.add_get(f"/{endpoint}", self._all)
            app.router.add_get(f"/{endpoint}/{{check}}", self._one)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind_address, self.port, ssl_context=self._ssl_context())
        await site.start()
        log.info("serving health checks securely on %s:%d", self.bind_address, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _ssl_context(self) -> ssl.SSLContext:
        cert, key = self.tls_cert_file, self.tls_private_key_file
        if not (cert and key):
            if self.cert_dir:
                directory = Path(self.cert_dir)
            else:
                self._tempdir = tempfile.TemporaryDirectory(prefix="kubeling-serving-")
                directory = Path(self._tempdir.name)
            _, crt_path, key_path = ensure_serving_cert(directory, ["localhost", "127.0.0.1"])
            cert, key = str(crt_path), str(key_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    def _run(self, names: list[str]) -> tuple[bool, list[str]]:
        lines, healthy = [], True
        for name in names:
            try:
                reason = self.checks[name]()
            except Exception as exc:  # a check that raises has failed, it must not take the server down
                reason = f"check raised {exc!r}"
            if reason is None:
                lines.append(f"[+]{name} ok")
            else:
                healthy = False
                lines.append(f"[-]{name} failed: {reason}")
        return healthy, lines

    async def _all(self, request: web.Request) -> web.Response:
        endpoint = request.path.strip("/")
        healthy, lines = self._run(list(self.checks))
        if healthy and "verbose" not in request.query:
            return web.Response(text="ok")
        verdict = f"{endpoint} check passed" if healthy else f"{endpoint} check failed"
        return web.Response(text="\n".join([*lines, verdict]) + "\n", status=200 if healthy else 500)

    async def _one(self, request: web.Request) -> web.Response:
        name = request.match_info["check"]
        if name not in self.checks:
            return web.Response(text=f"no such health check {name!r}\n", status=404)
        healthy, lines = self._run([name])
        return web.Response(text="ok" if healthy else lines[0] + "\n", status=200 if healthy else 500)
