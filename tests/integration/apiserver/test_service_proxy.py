"""services/proxy and pods/proxy end to end: a local aiohttp backend behind a selector-less Service.

The backend echoes what it was sent; the Service's EndpointSlice points at its
port on 127.0.0.1, so the apiserver (on the host) reaches it over its own network.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.fixtures.server import KubelingServer, free_port, kubectl, kubectl_env, kubectl_path

pytestmark = pytest.mark.integration

NAMESPACE = "svc-proxy"


class EchoBackend:
    """An HTTP server in a thread of its own that answers with what it saw."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/go-home":
            raise web.HTTPFound(location="/home")
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path_qs,
                "body": body.decode(),
                "authorization": request.headers.get("Authorization"),
                "cookie": request.headers.get("Cookie"),
            }
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._echo)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()

    def start(self) -> EchoBackend:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def apply(server: KubelingServer, document: dict) -> None:
    kubectl(server, "apply", "-f", "-", input=json.dumps(document))


@pytest.fixture(scope="module")
def backend(server: KubelingServer) -> Iterator[EchoBackend]:
    echo = EchoBackend().start()
    kubectl(server, "create", "namespace", NAMESPACE)
    apply(
        server,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "namespace": NAMESPACE},
            "spec": {"ports": [{"port": 80, "targetPort": echo.port}]},
        },
    )
    apply(
        server,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "echo-1",
                "namespace": NAMESPACE,
                "labels": {"kubernetes.io/service-name": "echo"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "", "port": echo.port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        },
    )
    try:
        yield echo
    finally:
        kubectl(server, "delete", "namespace", NAMESPACE, "--wait=false", check=False)
        echo.stop()


def proxied(
    server: KubelingServer, path: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, dict]:
    status, payload = server.request(method, path, body=body, headers={"Content-Type": "text/plain"})
    return status, json.loads(payload)


SERVICE = f"/api/v1/namespaces/{NAMESPACE}/services"


@pytest.mark.parametrize(
    "name",
    ["echo", "echo:", "http:echo:", "echo:80", "http:echo:80"],
    ids=["bare", "empty-port", "scheme", "port-number", "scheme-and-port"],
)
def test_get_reaches_the_backend_without_the_callers_token(server, backend, name) -> None:
    status, seen = proxied(server, f"{SERVICE}/{name}/proxy/some/page?x=1")
    assert status == 200
    assert seen["path"] == "/some/page?x=1"
    assert seen["authorization"] is None


def test_writes_carry_their_body(server, backend) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        status, seen = proxied(server, f"{SERVICE}/echo/proxy/form", method=method, body=b"a=1")
        assert (status, seen["method"], seen["body"]) == (200, method, "a=1")


def test_no_path_redirects_to_a_trailing_slash_and_locations_stay_under_the_prefix(server, backend) -> None:
    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=server.ssl_context())
    )
    for path, wanted in (
        (f"{SERVICE}/http:echo:/proxy", f"{SERVICE}/http:echo:/proxy/"),
        (f"{SERVICE}/echo/proxy/go-home", f"{SERVICE}/echo/proxy/home"),
    ):
        request = urllib.request.Request(server.url + path)
        request.add_header("Authorization", f"Bearer {server.token()}")
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
        assert answer.value.code in (301, 302)
        assert answer.value.headers["Location"] == wanted


class NoRedirect(urllib.request.HTTPErrorProcessor):
    def http_response(self, request, response):  # type: ignore[no-untyped-def]
        if response.status in (301, 302):
            raise urllib.error.HTTPError(request.full_url, response.status, "", response.headers, response)
        return response

    https_response = http_response


def test_unknown_port_and_missing_endpoints_are_service_unavailable(server, backend) -> None:
    status, body = server.request("GET", f"{SERVICE}/echo:81/proxy/")
    assert status == 503
    assert "no service port 81" in json.loads(body)["message"]
    apply(
        server,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "lonely", "namespace": NAMESPACE},
            "spec": {"ports": [{"port": 80}]},
        },
    )
    status, body = server.request("GET", f"{SERVICE}/lonely/proxy/")
    assert status == 503
    assert json.loads(body)["message"] == 'no endpoints available for service "lonely"'


def test_pod_proxy_goes_to_the_pod_ip(server, backend) -> None:
    apply(
        server,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "echo-pod", "namespace": NAMESPACE},
            "spec": {
                "nodeName": "nowhere",
                "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": backend.port}]}],
            },
        },
    )
    kubectl(
        server, "patch", "pod", "echo-pod", "-n", NAMESPACE, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}),
    )  # fmt: skip
    for name in ("echo-pod", f"echo-pod:{backend.port}"):
        status, seen = proxied(server, f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/proxy/hello")
        assert (status, seen["path"]) == (200, "/hello")


def test_rbac_decides_per_verb_on_the_subresource(server, backend) -> None:
    kubectl(server, "create", "serviceaccount", "reader", "-n", NAMESPACE)
    kubectl(
        server, "create", "role", "proxy-get", "-n", NAMESPACE, "--verb=get",
        "--resource=services/proxy",
    )  # fmt: skip
    kubectl(
        server, "create", "rolebinding", "reader-proxy", "-n", NAMESPACE, "--role=proxy-get",
        f"--serviceaccount={NAMESPACE}:reader",
    )  # fmt: skip
    token = kubectl(server, "create", "token", "reader", "-n", NAMESPACE).stdout.strip()

    def as_reader(method: str) -> int:
        request = urllib.request.Request(server.url + f"{SERVICE}/echo/proxy/x", method=method, data=b"")
        request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, context=server.ssl_context(), timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert as_reader("GET") == 200
    assert as_reader("POST") == 403


def test_kubectl_proxy_reaches_the_service(server, backend, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [kubectl_path(), "proxy", f"--port={port}"],
        env=kubectl_env(server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}{SERVICE}/http:echo:/proxy/via/kubectl"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    seen = json.loads(answer.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "kubectl proxy did not answer"
                time.sleep(0.2)
        assert seen["path"] == "/via/kubectl"
    finally:
        process.terminate()
        process.wait(10)
