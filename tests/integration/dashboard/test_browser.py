"""Acceptance: the dashboard driven in headless Chromium against a server with a real kubelet.

A kubeling server (controllers, scheduler) and an in-process kubelet on the
local Docker Engine (the kubelet suite's harness) run a Deployment whose pod
prints numbered lines; the dashboard serves from this test's event loop while
Selenium (blocking) drives Debian's chromium through chromedriver from a
worker thread. The browser logs in with the admin token, sees the node and
the Deployment, scales it from the UI and sees the pods appear with no page
reload, follows a pod's log, then logs in with a view-only ServiceAccount
token and is refused a scale with the apiserver's message in a banner.
Screenshots of each page go to ``tmp_path/artifacts`` (printed) and are
copied to ``tests/artifacts/dashboard/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from kubeling.client.kubeconfig import load_config
from kubeling.dashboard.config import DashboardConfig
from kubeling.dashboard.server import Dashboard
from kubeling.kubelet.images import BUSYBOX_IMAGE
from tests.fixtures.server import REPO, KubelingServer, free_port, kubectl
from tests.integration.kubelet.test_kubelet import NODE, Harness

pytestmark = pytest.mark.integration

# Required, never skipped: hack/test.sh installs chromium and chromium-driver (hack/lib.sh).
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMEDRIVER is None:
    pytest.fail("chromedriver missing: apt-get install chromium chromium-driver", pytrace=False)

NAMESPACE = "dash-ui"
LOGGER = "i=0; while true; do echo line $i; i=$((i+1)); sleep 1; done"


@pytest.fixture(scope="module")
def kserver(tmp_path_factory: pytest.TempPathFactory, test_network) -> Iterator[KubelingServer]:
    server = KubelingServer(
        tmp_path_factory.mktemp("dashboard-server"), extra_args=["--cluster-cidr", test_network.pod_cidr]
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def kubelet(kserver, docker_runtime, tmp_path, test_network, images) -> AsyncIterator[Harness]:
    harness = Harness(kserver, docker_runtime, tmp_path, test_network)
    harness.namespace = NAMESPACE
    await harness.start()
    try:
        yield harness
    finally:
        await harness.cleanup()
        await harness.stop()
        await harness.client.close()
        assert harness.kubelet is not None
        for pod_dir in (tmp_path / "kubelet" / "pods").glob("*"):
            await harness.kubelet.syncer.ctx.volumes.teardown(pod_dir.name)


@pytest.fixture
async def dashboard_url(kserver: KubelingServer) -> AsyncIterator[str]:
    dashboard = Dashboard(DashboardConfig(metric_resolution=5.0), load_config(str(kserver.kubeconfig)))
    access = logging.getLogger("dashboard.access")  # shown with a failure: what the browser asked for
    access.setLevel(logging.INFO)
    runner = web.AppRunner(dashboard.make_app(), shutdown_timeout=1, access_log=access)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()
        await dashboard.close()


class Browser:
    """Selenium's blocking calls, each run in a worker thread so the test's loop keeps serving."""

    def __init__(self, artifacts: Path) -> None:
        options = webdriver.ChromeOptions()
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ):
            options.add_argument(argument)
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        self.driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
        self.artifacts = artifacts

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)

    async def get(self, url: str) -> None:
        """Load a page; again when Chromium dropped it (ERR_NETWORK_CHANGED while CNI adds pod veths)."""
        for _ in range(5):
            await self.call(self.driver.get, url)
            if await self.script("return document.querySelector('main') !== null;"):
                return
            await asyncio.sleep(1)
        raise AssertionError(f"{url} did not load")

    async def text(self, css: str) -> str:
        def read() -> str:
            found = self.driver.find_elements(By.CSS_SELECTOR, css)
            return "\n".join(element.text for element in found)

        return await self.call(read)

    async def wait_text(self, css: str, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        text = ""
        while asyncio.get_running_loop().time() < deadline:
            try:
                text = await self.text(css)
            except WebDriverException:
                text = ""
            if predicate(text):
                return text
            await asyncio.sleep(0.5)
        await self.screenshot("failure")
        console = await self.call(self.driver.get_log, "browser")
        raise AssertionError(f"{css} never matched in {timeout}s; last text: {text!r}; console: {console}")

    async def type_into(self, css: str, value: str) -> None:
        def type_() -> None:
            element = self.driver.find_element(By.CSS_SELECTOR, css)
            element.clear()
            element.send_keys(value)

        await self.call(type_)

    async def click(self, css: str) -> None:
        await self.call(lambda: self.driver.find_element(By.CSS_SELECTOR, css).click())

    async def script(self, source: str) -> Any:
        return await self.call(self.driver.execute_script, source)

    async def screenshot(self, name: str) -> None:
        await self.call(self.driver.save_screenshot, str(self.artifacts / f"{name}.png"))

    async def login(self, base: str, token: str) -> None:
        await self.get(base + "login")
        await self.type_into("#token", token)
        await self.click("#login-button")
        await self.wait_text("h1", lambda t: "Cluster overview" in t, 20)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    instance = Browser(artifacts)
    try:
        yield instance
    finally:
        instance.quit()
        print(f"dashboard screenshots: {artifacts}")
        kept = REPO / "tests" / "artifacts" / "dashboard"
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(artifacts, kept)


def setup_objects(server: KubelingServer) -> str:
    """The namespace's Deployment, a view-only ServiceAccount; returns its token."""
    kubectl(server, "create", "namespace", NAMESPACE)
    kubectl(server, "create", "serviceaccount", "viewer", "-n", NAMESPACE)
    kubectl(
        server, "create", "rolebinding", "viewer-view", "-n", NAMESPACE, "--clusterrole=view",
        f"--serviceaccount={NAMESPACE}:viewer",
    )  # fmt: skip
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {"name": "logger", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", LOGGER]}
                    ],
                },
            },
        },
    }
    kubectl(server, "apply", "-f", "-", input=json.dumps(deployment))
    kubectl(server, "create", "secret", "generic", "creds", "-n", NAMESPACE, "--from-literal=password=s3cret")
    return kubectl(server, "create", "token", "viewer", "-n", NAMESPACE, "--duration=1h").stdout.strip()


def running_rows(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("web-") and "Running" in line)


async def test_dashboard_in_chromium(kserver, kubelet, dashboard_url: str, browser: Browser) -> None:
    viewer_token = await asyncio.to_thread(setup_objects, kserver)
    base = dashboard_url

    await browser.get(base)
    await browser.wait_text("h1", lambda t: t == "Log in", 20)
    await browser.screenshot("01-login")
    await browser.login(base, kserver.token())
    await browser.wait_text("#nodes", lambda t: NODE in t and "Ready" in t)
    await browser.screenshot("02-overview")

    await browser.get(base + f"r/deployments?namespace={NAMESPACE}")
    await browser.wait_text("#list", lambda t: "web" in t)
    await browser.screenshot("03-deployments")

    await browser.get(base + f"r/deployments/{NAMESPACE}/web")
    await browser.wait_text("#pods", lambda t: running_rows(t) == 1)
    await browser.script("window.notReloaded = true;")
    await browser.type_into("#replicas-input", "3")
    await browser.click("#scale-button")
    await browser.wait_text("#banners", lambda t: "Scaled deployments/web to 3" in t, 20)
    pods = await browser.wait_text("#pods", lambda t: running_rows(t) == 3, 90)
    assert await browser.script("return window.notReloaded === true;"), "the page reloaded"
    await browser.screenshot("04-deployment-scaled")

    pod_name = next(line.split()[0] for line in pods.splitlines() if line.startswith("web-"))
    await browser.get(base + f"r/pods/{NAMESPACE}/{pod_name}")
    await browser.wait_text("#log", lambda t: "line 2" in t, 60)
    await browser.wait_text("#containers", lambda t: "Running" in t)
    await browser.screenshot("05-pod-logs")

    await browser.get(base + f"r/secrets/{NAMESPACE}/creds")
    assert "s3cret" not in await browser.text("#data")
    await browser.click("#data button.reveal")
    await browser.wait_text("#data", lambda t: "s3cret" in t, 20)
    await browser.screenshot("06-secret-revealed")

    await browser.get(base + f"r/events?namespace={NAMESPACE}")
    await browser.wait_text("#list", lambda t: "Scheduled" in t or "Started" in t)
    await browser.screenshot("07-events")

    await browser.click("header form.logout button")
    await browser.wait_text("h1", lambda t: t == "Log in", 20)
    await browser.login(base, viewer_token)
    await browser.get(base + f"r/deployments/{NAMESPACE}/web")
    await browser.wait_text("#pods", lambda t: running_rows(t) == 3)
    await browser.type_into("#replicas-input", "5")
    await browser.click("#scale-button")
    refusal = await browser.wait_text(".banner.error", lambda t: "forbidden" in t, 20)
    assert "cannot patch resource" in refusal and "system:serviceaccount:dash-ui:viewer" in refusal
    await browser.screenshot("08-forbidden-scale")
    replicas = json.loads(
        (
            await asyncio.to_thread(kubectl, kserver, "get", "deploy", "web", "-n", NAMESPACE, "-o", "json")
        ).stdout
    )["spec"]["replicas"]
    assert replicas == 3
