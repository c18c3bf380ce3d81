"""An in-process ``kubeling ingress`` against the session's real apiserver, routing to local backends.

Everything asynchronous (the backends and the controller) runs on one event
loop in a background thread, so the tests can drive it with blocking clients
(requests, ssl sockets, kubectl) the way users would.  Backends are aiohttp
servers on 127.0.0.1 that answer with their name and the headers they got;
their Services are selector-less with hand-made EndpointSlices pointing at them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from aiohttp import web

from kubeling.client.kubeconfig import load_kubeconfig
from kubeling.client.rest import RESTClient
from kubeling.ingress.app import IngressApp
from kubeling.ingress.config import IngressConfig
from tests.fixtures.server import KubelingServer, free_port, kubectl

NS = "ingress-it"
T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="ingress-it-loop")
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Backend:
    name: str
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        app.router.add_get("/ws", self._websocket)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _answer(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "backend": self.name,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body": len(body),
            }
        )

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(f"{self.name}:{message.data}")
        return ws


@dataclass
class IngressHarness:
    server: KubelingServer
    loop: LoopThread
    app: IngressApp
    backends: dict[str, Backend]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.app.config.http_port}"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return kubectl(self.server, "-n", NS, *args, input=input, check=check)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def service_and_slice(name: str, port: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-1",
                "namespace": NS,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        },
    ]


@pytest.fixture(scope="package")
def ingress(server: KubelingServer) -> Iterator[IngressHarness]:
    kubectl(server, "create", "namespace", NS)
    ingress_class = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": "kubeling",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "kubeling.io/ingress-controller"},
    }
    loop = LoopThread()
    backends = {name: Backend(name) for name in ("alpha", "beta", "gamma")}
    objects: list[dict[str, Any]] = [ingress_class]
    for backend in backends.values():
        objects += service_and_slice(backend.name, backend.port)
    objects.append(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "empty", "namespace": NS},
         "spec": {"ports": [{"port": 80}], "selector": {"app": "nothing-runs-this"}}}
    )  # fmt: skip
    kubectl(server, "apply", "-f", "-", input="\n---\n".join(json.dumps(obj) for obj in objects))
    client = RESTClient(load_kubeconfig(server.kubeconfig), component="ingress-it")
    config = IngressConfig(
        kubeconfig=str(server.kubeconfig),
        bind_address="127.0.0.1",
        http_port=free_port(),
        https_port=free_port(),
        healthz_port=free_port(),
        publish_status_address=["127.0.0.1"],
        status_update_interval=5.0,
    )
    app = IngressApp(config, client)
    try:
        for backend in backends.values():
            loop.run(backend.start())
        loop.run(app.start())
        yield IngressHarness(server, loop, app, backends)
    finally:
        loop.run(app.stop())
        for backend in backends.values():
            if backend.runner is not None:
                loop.run(backend.runner.cleanup())
        loop.run(client.close())
        loop.close()
        kubectl(server, "delete", "namespace", NS, "--wait=false", check=False)
        kubectl(server, "delete", "ingressclass", "kubeling", check=False)
