"""``kubeling lb`` against real sockets: a real apiserver (the ``server`` fixture) and a TLS
backend of the test's own whose /readyz it can turn off, to watch failover happen."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from kubeling.lb.backends import Backend
from kubeling.lb.proxy import Balancer, LBConfig
from kubeling.pki.selfsigned import ensure_serving_cert
from tests.fixtures.server import KubelingServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KUBECTL = str(Path(sys.executable).with_name("kubectl"))


class FlakyBackend:
    """HTTPS on loopback: ``/readyz`` answers 200 while ``ready``; any other path holds the
    connection open (a stand-in for a watch) and answers ``flaky``."""

    def __init__(self, cert_dir: Path) -> None:
        _, crt, key = ensure_serving_cert(cert_dir, ["127.0.0.1"])
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(crt, key)
        self.ready = True
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FlakyBackend:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode()
            path = line.split()[1] if len(line.split()) > 1 else "/"
            if path == "/readyz":
                status = "200 OK" if self.ready else "500 Internal Server Error"
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
                )
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nflaky\n\r\n")
            await writer.drain()
            await reader.read()  # hold it open until the client goes
        except (OSError, ssl.SSLError, IndexError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def flaky(tmp_path: Path) -> AsyncIterator[FlakyBackend]:
    async with FlakyBackend(tmp_path / "flaky-pki") as backend:
        yield backend


def lb_kubeconfig(server: KubelingServer, port: int, target: Path) -> Path:
    config = yaml.safe_load(server.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    target.write_text(yaml.safe_dump(config))
    return target


async def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "KUBECACHEDIR": str(kubeconfig.parent / "cache")},
    )


def balancer(*backends: Backend, fall: int = 2) -> Balancer:
    config = LBConfig(
        backends=backends, port=free_port(), interval=0.2, timeout=1.0, connect_timeout=1.0, fall=fall
    )
    return Balancer(config)


async def test_kubectl_through_the_balancer_skips_a_dead_backend(
    server: KubelingServer, tmp_path: Path
) -> None:
    dead = Backend("127.0.0.1", free_port())  # nothing listens there
    lb = balancer(dead, Backend("127.0.0.1", server.port))
    await lb.start()
    try:
        kubeconfig = lb_kubeconfig(server, lb.config.port, tmp_path / "lb.kubeconfig")
        # Before any probe both count as healthy: a refused dial moves on to the next backend.
        for _ in range(3):
            done = await kubectl(kubeconfig, "get", "--raw", "/readyz")
            assert done.returncode == 0, done.stderr
        await lb.check_once()
        await lb.check_once()
        assert lb.pool.healthy() == [Backend("127.0.0.1", server.port)]
        assert "connect call failed" in lb.pool.states[dead].last_error.lower()
        done = await kubectl(kubeconfig, "get", "namespaces", "-o", "name")
        assert "namespace/default" in done.stdout, done.stderr
    finally:
        await lb.stop()


async def test_a_backend_that_turns_unready_loses_its_connections_and_comes_back(
    server: KubelingServer, flaky: FlakyBackend
) -> None:
    real, other = Backend("127.0.0.1", server.port), Backend("127.0.0.1", flaky.port)
    lb = balancer(other, real)
    await lb.start()
    checks = asyncio.create_task(lb.check_forever())
    client_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_tls.check_hostname, client_tls.verify_mode = False, ssl.CERT_NONE
    try:
        # The first connection goes to the flaky backend (first in round-robin) and stays open.
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.config.port, ssl=client_tls)
        writer.write(b"GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert b"flaky" in await asyncio.wait_for(reader.readuntil(b"flaky"), 5)

        flaky.ready = False
        started = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 10)  # EOF: the balancer closed it
        closed_after = time.monotonic() - started
        writer.close()
        assert rest == b"" or b"flaky" not in rest
        assert closed_after < 3.0, f"held connection closed after {closed_after:.1f}s"
        assert lb.pool.healthy() == [real]
        assert "500" in lb.pool.states[other].last_error

        # New connections all reach the real apiserver while the other is unready.
        for _ in range(4):
            status = await readyz_through(lb.config.port, client_tls)
            assert status == "200"

        flaky.ready = True
        deadline = time.monotonic() + 5
        while lb.pool.healthy() != [other, real]:
            assert time.monotonic() < deadline, "the backend did not come back"
            await asyncio.sleep(0.1)
    finally:
        checks.cancel()
        await asyncio.gather(checks, return_exceptions=True)
        await lb.stop()


async def readyz_through(port: int, tls: ssl.SSLContext) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    try:
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().split()[1]
    finally:
        writer.close()


def test_bad_flags_are_clear_errors() -> None:
    kubeling = str(Path(sys.executable).with_name("kubeling"))
    done = subprocess.run(
        [kubeling, "lb", "--backends", "10.0.0.1:http"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert "kubeling lb: --backends: backend '10.0.0.1:http': port must be 1-65535" in done.stderr
    assert "Traceback" not in done.stderr
