"""The dashboard in-process against a real ``kubeling server``: login, pages, actions, live streams, RBAC.

Every request the dashboard makes goes to the server with the logged-in
user's token, so the admin and a ``view``-bound ServiceAccount see different
things; the apiserver's service proxy reaches the dashboard as a Service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kubeling.dashboard.server import Dashboard
from kubeling.dashboard.sessions import COOKIE
from tests.fixtures.server import KubelingServer, free_port, kubectl
from tests.integration.dashboard.conftest import NAMESPACE, Tokens

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def browser(dashboard: Dashboard):  # type: ignore[no-untyped-def]
    client = TestClient(TestServer(dashboard.make_app()), cookie_jar=aiohttp.CookieJar(unsafe=True))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def login(client: TestClient, token: str) -> aiohttp.ClientResponse:
    return await client.post("/login", data={"token": token}, allow_redirects=False)


async def test_login_gate_and_session_cookie(dashboard: Dashboard, tokens: Tokens) -> None:
    async with browser(dashboard) as client:
        answer = await client.get("/r/pods", allow_redirects=False)
        assert (answer.status, answer.headers["Location"]) == (303, "../login")

        refused = await login(client, "not-a-token")
        assert refused.status == 401
        assert "did not accept this token" in await refused.text()

        accepted = await login(client, tokens.admin)
        assert (accepted.status, accepted.headers["Location"]) == (303, "./")
        cookie = accepted.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert tokens.admin not in cookie  # only an opaque id leaves the server

        page = await client.get("/")
        text = await page.text()
        assert page.status == 200 and "Cluster overview" in text and "Deployments" in text

        await client.post("/logout", allow_redirects=False)
        assert (await client.get("/", allow_redirects=False)).status == 303


async def test_pages_show_what_the_user_may_read(dashboard: Dashboard, tokens: Tokens, hollow_node) -> None:
    async with browser(dashboard) as client:
        await login(client, tokens.admin)
        for _ in range(50):  # the hollow node registers in the background
            overview = await (await client.get("/")).text()
            if hollow_node in overview:
                break
            await asyncio.sleep(0.2)
        assert hollow_node in overview
        listing = await (await client.get(f"/r/deployments?namespace={NAMESPACE}")).text()
        assert 'href="../r/deployments/dash/web"' in listing
        detail = await client.get(f"/r/deployments/{NAMESPACE}/web")
        assert detail.status == 200
        assert 'action="../../../r/deployments/dash/web/scale"' in await detail.text()

        secret = await (await client.get(f"/r/secrets/{NAMESPACE}/creds")).text()
        assert "s3cret" not in secret and "czNjcmV0" not in secret  # hidden until revealed
        revealed = await client.get(f"/r/secrets/{NAMESPACE}/creds/reveal?key=password")
        assert (revealed.status, await revealed.text()) == (200, "s3cret")

    async with browser(dashboard) as client:
        await login(client, tokens.viewer)
        nodes = await (await client.get("/")).text()
        # view in one namespace: no nodes, and the apiserver's own words say so.
        assert "cannot list resource &#34;nodes&#34;" in nodes
        assert "cannot list resource &#34;deployments&#34;" in nodes  # in all namespaces
        scoped = await (await client.get(f"/?namespace={NAMESPACE}")).text()
        assert "cannot list resource &#34;deployments&#34;" not in scoped
        assert '<td class="total">1</td>' in scoped
        denied = await client.get(f"/r/secrets/{NAMESPACE}/creds/reveal?key=password")
        assert denied.status == 403
        configmap = await client.get(f"/r/configmaps/{NAMESPACE}/settings/reveal?key=color")
        assert await configmap.text() == "blue"


async def next_event(stream: aiohttp.StreamReader, wanted: str, timeout: float = 30.0) -> str:
    async def read() -> str:
        event = ""
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("stream ended")
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == wanted:
                return line[6:].strip()

    return await asyncio.wait_for(read(), timeout)


async def test_scale_from_the_ui_feeds_the_live_stream(
    dashboard: Dashboard, tokens: Tokens, hollow_node, server: KubelingServer
) -> None:
    async with browser(dashboard) as client:
        await login(client, tokens.admin)
        stream = await client.get(
            "/live", params={"w": f"kind=pods&namespace={NAMESPACE}&labelSelector=app%3Dweb"}
        )
        assert stream.headers["Content-Type"] == "text/event-stream"
        await next_event(stream.content, "ready")
        scaled = await client.post(
            f"/r/deployments/{NAMESPACE}/web/scale", data={"replicas": "3"}, allow_redirects=False
        )
        assert scaled.status == 303 and scaled.headers["Location"].startswith("../web?notice=Scaled")
        change = await next_event(stream.content, "change")
        assert change.split()[:2] in (["pods", "ADDED"], ["pods", "MODIFIED"])
        stream.close()

        pods = json.loads(
            kubectl(server, "get", "pods", "-n", NAMESPACE, "-l", "app=web", "-o", "json").stdout
        )
        victim = pods["items"][0]["metadata"]["name"]
        deleted = await client.post(f"/r/pods/{NAMESPACE}/{victim}/delete", allow_redirects=False)
        assert deleted.status == 303
        assert deleted.headers["Location"].startswith(f"../../../pods?namespace={NAMESPACE}&notice=Deleted")

        restarted = await client.post(f"/r/deployments/{NAMESPACE}/web/restart", allow_redirects=False)
        assert restarted.status == 303
        annotations = json.loads(
            kubectl(server, "get", "deployment", "web", "-n", NAMESPACE, "-o", "json").stdout
        )["spec"]["template"]["metadata"]["annotations"]
        assert "kubectl.kubernetes.io/restartedAt" in annotations

    async with browser(dashboard) as client:
        await login(client, tokens.viewer)
        refused = await client.post(
            f"/r/deployments/{NAMESPACE}/web/scale", data={"replicas": "5"}, allow_redirects=False
        )
        page = await refused.text()
        assert refused.status == 403
        assert 'id="error-banner"' in page
        assert "cannot patch resource" in page and "deployments/scale" in page
        pods = json.loads(
            kubectl(server, "get", "pods", "-n", NAMESPACE, "-l", "app=web", "-o", "json").stdout
        )
        survivor = pods["items"][0]["metadata"]["name"]
        kept = await client.post(f"/r/pods/{NAMESPACE}/{survivor}/delete", allow_redirects=False)
        assert kept.status == 403 and "cannot delete resource" in await kept.text()


async def test_through_the_apiserver_service_proxy(
    dashboard: Dashboard, tokens: Tokens, server: KubelingServer
) -> None:
    port = free_port()
    runner = web.AppRunner(dashboard.make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubeling-dashboard", "namespace": NAMESPACE},
            "spec": {"ports": [{"port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubeling-dashboard-1",
                "namespace": NAMESPACE,
                "labels": {"kubernetes.io/service-name": "kubeling-dashboard"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        },
    ]
    try:
        for manifest in manifests:
            kubectl(server, "apply", "-f", "-", input=json.dumps(manifest))
        prefix = f"/api/v1/namespaces/{NAMESPACE}/services/http:kubeling-dashboard:/proxy/"
        # The blocking urllib call runs off the loop that serves the dashboard.
        status, body = await asyncio.to_thread(server.request, "GET", prefix + "login")
        assert status == 200 and b'action="login"' in body
        status, body = await asyncio.to_thread(server.request, "GET", prefix + "static/dashboard.js")
        assert status == 200 and b"EventSource" in body
    finally:
        await runner.cleanup()
