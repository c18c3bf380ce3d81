"""Probe handlers against loopback servers, and the workers' thresholds and startup gating."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from aiohttp import web

from kubeling.kubelet import runtime as rt
from kubeling.kubelet.probes import ProbeManager, run_handler
from tests.unit.kubelet.builders import container as container_status
from tests.unit.kubelet.builders import make_pod
from tests.unit.kubelet.fakeruntime import FakeRuntime


@pytest.fixture
async def http_port():
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("X-Probe", "ok"))

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.add_routes([web.get("/ok", ok), web.get("/broken", broken)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_handlers(http_port: int) -> None:
    runtime = FakeRuntime()
    runtime.exec_results[("false",)] = rt.ExecResult(1, b"", b"nope")
    container = {"name": "c", "ports": [{"name": "web", "containerPort": http_port}]}

    async def run(handler: dict):
        return await run_handler(
            runtime, handler, container=container, container_id="x", pod_ip="127.0.0.1", timeout=2
        )

    headers = [{"name": "X-Probe", "value": "hi"}]
    assert (await run({"httpGet": {"path": "/ok", "port": "web", "httpHeaders": headers}})).message == "hi"
    broken = await run({"httpGet": {"path": "/broken", "port": http_port}})
    assert not broken.ok and "500" in broken.message
    assert (await run({"tcpSocket": {"port": http_port}})).ok
    assert not (await run({"tcpSocket": {"port": closed_port()}})).ok
    assert (await run({"exec": {"command": ["true"]}})).ok
    failed = await run({"exec": {"command": ["false"]}})
    assert not failed.ok and "nope" in failed.message
    assert not (await run({"httpGet": {"port": "missing"}})).ok


async def test_liveness_threshold_and_startup_gating() -> None:
    runtime = FakeRuntime()
    runtime.exec_results[("false",)] = rt.ExecResult(1)
    changed: list[str] = []
    failures: list[str] = []
    manager = ProbeManager(
        runtime, on_change=changed.append, on_failure=lambda *args: failures.append(args[2]), clock=time.time
    )
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}
    spec = {
        "name": "c",
        "image": "busybox",
        "livenessProbe": probe,
        "readinessProbe": {"exec": {"command": ["true"]}},
    }
    status = container_status("abc")
    status.started_at = time.time()
    manager.ensure(make_pod(containers=[spec]), spec, status, lambda: "127.0.0.1")
    for _ in range(40):
        if "abc" in manager.results.liveness_failed:
            break
        await asyncio.sleep(0.1)
    assert manager.results.liveness_failed["abc"] == "Container c failed liveness probe, will be restarted"
    assert failures.count("livenessProbe") == 2 and changed
    assert manager.results.ready["abc"] is True

    # With a startup probe that never succeeds, liveness and readiness never run.
    gated = {
        **spec,
        "startupProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 30},
    }
    second = container_status("def")
    second.started_at = time.time()
    manager.ensure(make_pod(containers=[gated]), gated, second, lambda: "127.0.0.1")
    await asyncio.sleep(1.3)
    assert "def" not in manager.results.ready and "def" not in manager.results.liveness_failed
    assert not manager.results.started.get("def")
    manager.stop_all()
