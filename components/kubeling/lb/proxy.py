"""The balancer's sockets: accept on the local address, dial a backend, copy bytes both ways.

One task per client connection; it dials the backends in :meth:`Pool.order`
until one accepts (each dial bounded by ``connect_timeout``) and then pumps
both directions until either side closes.  Health probes run in one loop
every ``interval``; when a backend turns unhealthy every connection through
it is closed at once (haproxy's ``on-marked-down shutdown-sessions``): a
kubelet's long watch to a vanished host would otherwise hang until TCP gives
up, instead of reconnecting through a live apiserver within seconds.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

from kubeling.lb.backends import Backend, Pool
from kubeling.lb.health import Mode, client_context, probe

log = logging.getLogger(__name__)
BUFFER = 64 * 1024
Session = tuple[asyncio.StreamWriter, asyncio.StreamWriter]


def _close(session: Session) -> None:
    for writer in session:
        writer.close()


@dataclass(frozen=True)
class LBConfig:
    backends: tuple[Backend, ...]
    bind_address: str = "127.0.0.1"
    port: int = 6444
    health_check: Mode = Mode.HTTPS
    health_check_path: str = "/readyz"
    ca_file: str = ""
    interval: float = 1.0
    timeout: float = 3.0
    connect_timeout: float = 2.0
    rise: int = 1
    fall: int = 2


class Balancer:
    def __init__(self, config: LBConfig) -> None:
        self.config = config
        self.pool = Pool(list(config.backends), rise=config.rise, fall=config.fall)
        self._tls: ssl.SSLContext | None = (
            client_context(config.ca_file) if config.health_check is Mode.HTTPS else None
        )
        # Per backend: the (client, backend) writer pairs of its open connections.
        self._sessions: dict[Backend, set[Session]] = {b: set() for b in config.backends}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def sockets(self) -> list[tuple[str, int]]:
        return [s.getsockname()[:2] for s in (self._server.sockets if self._server else [])]

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.config.bind_address, self.config.port, reuse_address=True
        )
        log.info(
            "balancing %s:%d over %s (health: %s)",
            self.config.bind_address,
            self.config.port,
            ", ".join(str(b) for b in self.config.backends),
            self.config.health_check,
        )

    async def run(self) -> None:
        """Serve and probe until cancelled."""
        await self.start()
        try:
            await self.check_forever()
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for sessions in self._sessions.values():
            for session in list(sessions):
                _close(session)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- health ---------------------------------------------------------------------------

    async def check_forever(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self.config.interval)

    async def check_once(self) -> None:
        backends = self.config.backends
        verdicts = await asyncio.gather(
            *(
                probe(
                    b,
                    mode=self.config.health_check,
                    timeout=self.config.timeout,
                    path=self.config.health_check_path,
                    tls=self._tls,
                )
                for b in backends
            )
        )
        for backend, error in zip(backends, verdicts, strict=True):
            if not self.pool.record(backend, error):
                continue
            if error is None:
                log.info("backend %s is healthy again", backend)
            else:
                log.warning("backend %s is unhealthy (%s): closing its %d connections",
                            backend, error, len(self._sessions[backend]))  # fmt: skip
                for session in list(self._sessions[backend]):
                    _close(session)

    # -- connections ----------------------------------------------------------------------

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(client_reader, client_writer)
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            client_writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        errors = []
        for backend in self.pool.order():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(backend.host, backend.port), self.config.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                errors.append(f"{backend}: {exc or type(exc).__name__}")
                continue
            session = (client_writer, writer)
            sessions = self._sessions[backend]
            sessions.add(session)
            try:
                await _pipe(client_reader, client_writer, reader, writer)
            finally:
                sessions.discard(session)
                writer.close()
            return
        log.warning("no backend accepted a connection: %s", "; ".join(errors))


async def _pipe(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    backend_reader: asyncio.StreamReader,
    backend_writer: asyncio.StreamWriter,
) -> None:
    """Copy both ways until both have ended. A clean EOF is passed on as a half-close (the
    other direction may still be answering); a broken side closes both at once."""
    await asyncio.gather(
        _copy(client_reader, backend_writer, client_writer),
        _copy(backend_reader, client_writer, backend_writer),
    )


async def _copy(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: asyncio.StreamWriter
) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()
            return
    except (OSError, ConnectionError):
        pass
    writer.close()
    source.close()
