"""Extra apiserver processes sharing the primary's port (``--workers``).

One CPython process serves at most one core.  With ``workers > 1`` the
primary apiserver (the one that bootstraps the cluster's objects and runs the
singleton loops: endpoint reconciler, compactor, APIService availability,
ClusterRole aggregation, CRD status) starts ``workers - 1`` secondary
processes.  Every process binds the same address with ``SO_REUSEPORT`` and the
kernel spreads incoming connections across them.

Secondaries are serving-only copies: their own datastore client and watch
cache, the same authentication and admission, no writes of their own
initiative.  Reads stay consistent across processes because gets go to the
datastore and cached lists first wait until the cache has seen the
datastore's current revision.

A secondary that dies is started again (after a pause that doubles up to
30 s), so one crash costs the connections it held, not the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing
import os
import signal
from multiprocessing.process import BaseProcess

from kubeling.apiserver.config import APIServerConfig

log = logging.getLogger(__name__)

_RESTART_PAUSE_MAX = 30.0
_STABLE_AFTER = 60.0
_STOP_GRACE = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGTERM when the primary dies, even by SIGKILL (a worker must not keep the port)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request took effect
        raise SystemExit(0)


def _serve_secondary(config: APIServerConfig, index: int, parent: int) -> None:
    """Entry point of a secondary process (spawned: nothing inherited but the config)."""
    _die_with_parent(parent)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s apiserver-worker-{index} %(name)s: %(message)s"
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        pass
    asyncio.run(_secondary_main(config))


async def _secondary_main(config: APIServerConfig) -> None:
    from kubeling.apiserver.app import APIServer, serve_until_signalled

    await serve_until_signalled(APIServer(config, primary=False))


class WorkerPool:
    """Starts, watches and stops the secondary apiserver processes."""

    def __init__(self, config: APIServerConfig, port: int, count: int) -> None:
        # Secondaries bind the port the primary got (it may have asked for port 0).
        self._config = dataclasses.replace(config, secure_port=port, workers=1)
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[int, BaseProcess] = {}
        self._started: dict[int, float] = {}  # index -> loop time of its last start
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes.values() if p.pid is not None and p.is_alive()]

    def start(self) -> None:
        for index in range(1, self._count + 1):
            self._spawn(index)
        self._supervisor = asyncio.create_task(self._supervise(), name="apiserver-workers")

    def _spawn(self, index: int) -> None:
        process = self._context.Process(
            target=_serve_secondary,
            args=(self._config, index, os.getpid()),
            name=f"kubeling-apiserver-worker-{index}",
            daemon=True,
        )
        process.start()
        self._processes[index] = process
        self._started[index] = asyncio.get_running_loop().time()
        log.info("started apiserver worker %d (pid %s)", index, process.pid)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        pauses = dict.fromkeys(self._processes, 1.0)
        while True:
            await asyncio.sleep(1.0)
            for index, process in list(self._processes.items()):
                if process.is_alive():
                    continue
                if loop.time() - self._started[index] > _STABLE_AFTER:
                    pauses[index] = 1.0  # it had been running fine: not a crash loop
                pause = pauses.get(index, 1.0)
                log.error(
                    "apiserver worker %d exited with %s; starting it again in %.0f s",
                    index,
                    process.exitcode,
                    pause,
                )
                await asyncio.sleep(pause)
                pauses[index] = min(pause * 2, _RESTART_PAUSE_MAX)
                self._spawn(index)

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()  # SIGTERM: each worker leaves its connections cleanly
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STOP_GRACE
        for process in self._processes.values():
            await asyncio.to_thread(process.join, max(0.0, deadline - loop.time()))
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 1.0)
        self._processes.clear()
