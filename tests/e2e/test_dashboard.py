"""Issue 9's dashboard as an addon on two nodes, reached the ways a user reaches it.

The dashboard addon is applied on top of the ``services_lab`` addons (metrics-server
included); ``kubectl proxy`` then serves it under the apiserver's service proxy
(``/api/v1/namespaces/kube-system/services/http:kubeling-dashboard:/proxy/``): a login with a
ServiceAccount token bound to ``cluster-admin`` shows both nodes, and within a few metric
resolutions the node plots carry samples; ``kubectl port-forward`` reaches the same pages.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from kubeling.addons import AddonValues, apply_addons
from kubeling.client.kubeconfig import load_kubeconfig
from kubeling.client.rest import RESTClient
from tests.e2e.conftest import ServicesLab
from tests.fixtures.server import free_port, kubectl_path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

PROXY_PATH = "/api/v1/namespaces/kube-system/services/http:kubeling-dashboard:/proxy/"
T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = check()
        except OSError as exc:
            answer = None  # type: ignore[assignment]
            last = repr(exc)
        else:
            last = repr(answer)[:300]
            if answer:
                return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s; last {last}")
        time.sleep(interval)


async def _apply_dashboard(lab: ServicesLab) -> list[str]:
    spec = lab.lab.spec
    image = lab.get("-n", "kube-system", "deployment", "metrics-server")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    client = RESTClient(load_kubeconfig(lab.lab.kubeconfig), component="e2e-dashboard")
    try:
        values = AddonValues(
            image=image,
            apiserver_url=spec.apiserver_url,
            service_cidr=spec.service_cidr,
            cluster_cidr=spec.cluster_cidr,
        )
        return await apply_addons(client, ["dashboard"], values)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def dashboard_lab(services_lab: ServicesLab) -> ServicesLab:
    services_lab.lab.wait_rollouts(asyncio.run(_apply_dashboard(services_lab)))
    services_lab.kubectl("create", "serviceaccount", "dash-admin", "-n", "default")
    services_lab.kubectl(
        "create", "clusterrolebinding", "dash-admin", "--clusterrole=cluster-admin",
        "--serviceaccount=default:dash-admin",
    )  # fmt: skip
    return services_lab


def background(lab: ServicesLab, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [kubectl_path(), "--kubeconfig", str(lab.lab.kubeconfig), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(10)


def logged_in(base: str, token: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    body = urllib.parse.urlencode({"token": token}).encode()
    with opener.open(base + "login", data=body, timeout=20) as answer:
        assert answer.status == 200 and "Cluster overview" in answer.read().decode()
    return opener


def test_dashboard_through_kubectl_proxy_and_port_forward(dashboard_lab: ServicesLab, stopped) -> None:
    token = dashboard_lab.kubectl("create", "token", "dash-admin", "-n", "default").stdout.strip()
    nodes = [n["metadata"]["name"] for n in dashboard_lab.get("nodes")["items"]]

    port = free_port()
    stopped.append(background(dashboard_lab, "proxy", f"--port={port}"))
    base = f"http://127.0.0.1:{port}{PROXY_PATH}"
    eventually(lambda: urllib.request.urlopen(base + "login", timeout=5).status == 200, 60, "kubectl proxy")
    opener = logged_in(base, token)

    def overview() -> str:
        with opener.open(base, timeout=20) as answer:
            return answer.read().decode()

    page = overview()
    assert all(name in page for name in nodes), page
    # The dashboard samples metrics.k8s.io every 15 s: plots get lines once metrics-server has data.
    eventually(lambda: "<polyline" in overview(), 180, "node plots with samples", interval=5)

    forwarded = free_port()
    stopped.append(
        background(
            dashboard_lab, "port-forward", "-n", "kube-system", "svc/kubeling-dashboard", f"{forwarded}:80"
        )
    )
    direct = f"http://127.0.0.1:{forwarded}/"
    eventually(lambda: urllib.request.urlopen(direct + "login", timeout=5).status == 200, 60, "port-forward")
    with logged_in(direct, token).open(direct + "r/pods?namespace=kube-system", timeout=20) as answer:
        assert "kubeling-dashboard-" in answer.read().decode()
