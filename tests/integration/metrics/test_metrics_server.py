"""metrics-server against a real apiserver and a real kubelet running a busy pod on Docker.

One ``kubeling server`` per module (its ``--cluster-cidr`` is the session's
test pod network, so this kubelet's Node gets that /24).  Each test runs a
Kubelet in-process with the node's own credentials, and a MetricsServer
in-process with the identity the addon manifest gives it: the manifest's
ServiceAccount and RBAC objects are applied with kubectl and the server uses
a TokenRequest token of ``kube-system/metrics-server``, so the kubelet's
TokenReview + SubjectAccessReview (nodes/metrics) and the apiserver's RBAC
decide as in a cluster.  Callers reach it the way the aggregator does: a
client certificate of the front-proxy CA (read from extension-apiserver-authentication)
with X-Remote-User/Group headers, or a bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kubeling.api import errors
from kubeling.api.validation.common import parse_quantity
from kubeling.client.kubeconfig import ClientConfig, load_config
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.kubelet.config import KubeletConfig
from kubeling.kubelet.images import BUSYBOX_IMAGE
from kubeling.kubelet.kubelet import Kubelet
from kubeling.metrics.config import MetricsServerConfig
from kubeling.metrics.server import MetricsServer
from kubeling.pki import certs
from tests.fixtures.server import KubelingServer, kubectl
from tests.unit.metrics.test_template import render

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NODE = socket.gethostname().lower()  # the server's kubelet.kubeconfig is system:node:<host name>
PODS = StaticResource("", "v1", "pods")
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)
METRICS = "/apis/metrics.k8s.io/v1beta1"
BUSY = {
    "name": "burn",
    "image": BUSYBOX_IMAGE,
    "command": ["sh", "-c", "while :; do :; done"],
    # The limit keeps the loop to a quarter core on the shared machine; the request feeds the HPA.
    "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "250m"}},
}


@pytest.fixture(scope="module")
def kserver(tmp_path_factory: pytest.TempPathFactory, test_network: Any) -> Iterator[KubelingServer]:
    server = KubelingServer(
        tmp_path_factory.mktemp("metrics"), extra_args=["--cluster-cidr", test_network.pod_cidr]
    ).start()
    # The addon's identity and RBAC; the Deployment, Service and APIService are not needed here.
    wanted = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding"}
    docs = [d for d in render(image="unused") if d["kind"] in wanted]
    kubectl(server, "apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))
    yield server
    server.stop()


@dataclass
class FrontProxy:
    ssl: ssl.SSLContext  # presents the apiserver's front-proxy client certificate
    stranger_ssl: ssl.SSLContext  # the same CN from a CA nobody trusts


def _presenting(crt: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # metrics-server's serving certificate is self-signed
    context.load_cert_chain(crt, key)
    return context


def _stranger_context(directory: Path, name: str, common_name: str) -> ssl.SSLContext:
    now = certs.utcnow()
    ca_key = certs.generate_key(certs.KeyType.ECDSA)
    ca = certs.new_ca(ca_key, common_name=f"{name}-ca", days=1, now=now)
    key = certs.generate_key(certs.KeyType.ECDSA)
    request = certs.CertRequest(common_name=common_name, usages=frozenset({certs.CLIENT_AUTH}))
    cert = certs.issue(request, public_key=key.public_key(), ca_cert=ca, ca_key=ca_key, days=1, now=now)
    certs.write_atomic(directory / f"{name}.crt", certs.cert_to_pem(cert), 0o644)
    certs.write_atomic(directory / f"{name}.key", certs.key_to_pem(key), 0o600)
    return _presenting(directory / f"{name}.crt", directory / f"{name}.key")


@pytest.fixture(scope="module")
def front_proxy(kserver: KubelingServer, tmp_path_factory: pytest.TempPathFactory) -> FrontProxy:
    """The server's own front-proxy pair (trusted through extension-apiserver-authentication)."""
    pki = kserver.data_dir / "pki"
    trusted = _presenting(pki / "front-proxy-client.crt", pki / "front-proxy-client.key")
    stranger = _stranger_context(tmp_path_factory.mktemp("stranger"), "stranger", "front-proxy-client")
    return FrontProxy(trusted, stranger)


@dataclass
class Env:
    server: KubelingServer
    metrics: MetricsServer
    namespace: str
    front_proxy: FrontProxy
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.metrics.port}"

    async def get(
        self, path: str, *, user: str | None = None, groups: tuple[str, ...] = (), **options: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = dict(options.pop("headers", {}))
        if user is not None:
            headers["X-Remote-User"] = user
        context = options.pop("ssl", self.front_proxy.ssl if user is not None else _no_verify())
        request_headers = [*headers.items(), *(("X-Remote-Group", g) for g in groups)]
        async with self.session.get(
            self.url + path, headers=request_headers, ssl=context, **options
        ) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text.startswith("{") else {"text": text})

    async def eventually(self, check: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            with contextlib.suppress(errors.StatusError):
                last = await check()
                if last:
                    return last
            await asyncio.sleep(1.0)
        raise AssertionError(f"{what} not met in {timeout}s (last: {last!r})")


def _no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _service_account_config(server: KubelingServer) -> ClientConfig:
    token = kubectl(server, "create", "token", "metrics-server", "-n", "kube-system").stdout.strip()
    return ClientConfig(server=server.url, ca_file=str(server.data_dir / "pki" / "ca.crt"), token=token)


@pytest.fixture
async def env(
    kserver: KubelingServer, front_proxy: FrontProxy, docker_runtime: Any, tmp_path: Path, images: Any
) -> AsyncIterator[Env]:
    admin = RESTClient(load_config(str(kserver.kubeconfig)), component="metrics-test")
    namespace = f"m{uuid.uuid4().hex[:8]}"
    await admin.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kubelet_config = KubeletConfig(
        hostname_override=NODE,
        root_dir=str(tmp_path / "kubelet"),
        pod_manifest_path=str(tmp_path / "manifests"),
        cluster_dns=["10.96.0.10"],
        node_status_update_frequency=1.0,
        port=0,
        client_ca_file=str(kserver.data_dir / "pki" / "ca.crt"),
    )
    (tmp_path / "manifests").mkdir()
    node_client = RESTClient(load_config(str(kserver.data_dir / "kubelet.kubeconfig")), component="kubelet")
    kubelet = Kubelet(kubelet_config, node_client, docker_runtime, relist_period=0.5)
    kubelet_task = asyncio.create_task(kubelet.run())
    config = MetricsServerConfig(
        bind_address="127.0.0.1",
        secure_port=0,
        cert_dir=str(tmp_path / "metrics-certs"),
        metric_resolution=10.0,
        kubelet_insecure_tls=True,
    )
    client = RESTClient(_service_account_config(kserver), component="metrics-server")
    metrics = MetricsServer(config, client)
    session = aiohttp.ClientSession()
    try:
        await metrics.start()
        yield Env(kserver, metrics, namespace, front_proxy, session)
    finally:
        await session.close()
        await metrics.stop()
        await client.close()
        for pod in (await admin.list(PODS, namespace=namespace)).get("items", []):
            with contextlib.suppress(errors.StatusError):
                await admin.delete(
                    PODS, namespace=namespace, name=pod["metadata"]["name"], grace_period_seconds=0
                )
        await admin.delete(NAMESPACES, name=namespace)
        kubelet_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await kubelet_task
        await node_client.close()
        await admin.close()
        for pod_dir in (tmp_path / "kubelet" / "pods").glob("*"):
            await kubelet.syncer.ctx.volumes.teardown(pod_dir.name)


def cpu_of(usage: dict[str, str]) -> float:
    return float(parse_quantity(usage["cpu"]))


async def test_busy_pod_and_node_report_cpu_through_front_proxy_and_tokens(env: Env) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busy", "labels": {"app": "busy"}},
           "spec": {"containers": [BUSY], "terminationGracePeriodSeconds": 0}}  # fmt: skip
    kubectl(env.server, "create", "-n", env.namespace, "-f", "-", input=json.dumps(pod))
    admin_group = ("system:masters",)

    async def node_metrics() -> dict[str, Any] | None:
        status, body = await env.get(f"{METRICS}/nodes/{NODE}", user="admin", groups=admin_group)
        return body if status == 200 else None

    node = await env.eventually(node_metrics, 150, "NodeMetrics of this node")
    print("node", node)
    assert node["kind"] == "NodeMetrics" and node["window"].endswith("s")
    assert cpu_of(node["usage"]) > 0 and parse_quantity(node["usage"]["memory"]) > 0
    status, _ = await env.get("/readyz")
    assert status == 200

    pod_path = f"{METRICS}/namespaces/{env.namespace}/pods/busy"

    seen: list[dict[str, Any]] = []

    async def busy_pod_metrics() -> dict[str, Any] | None:
        status, body = await env.get(pod_path, user="admin", groups=admin_group)
        if status != 200:
            return None
        seen.append(body)
        # A busy loop: clearly above an idle container's ~0 once a full window has passed.  Not
        # near its 250m limit: on a loaded machine its 100m request buys little CPU.
        return body if cpu_of(body["containers"][0]["usage"]) > 0.01 else None

    try:
        metrics = await env.eventually(busy_pod_metrics, 150, "PodMetrics of the busy pod")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; samples seen: {seen[-3:]}") from None
    print("pod", metrics)
    [container] = metrics["containers"]
    assert container["name"] == "burn"
    assert parse_quantity(container["usage"]["memory"]) > 0

    # Lists, with selectors.
    status, listed = await env.get(
        f"{METRICS}/pods?labelSelector=app%3Dbusy", user="admin", groups=admin_group
    )
    assert status == 200 and [i["metadata"]["name"] for i in listed["items"]] == ["busy"]
    status, listed = await env.get(
        f"{METRICS}/namespaces/{env.namespace}/pods?fieldSelector=metadata.name%3Dother",
        user="admin",
        groups=admin_group,
    )
    assert status == 200 and listed["items"] == []
    status, body = await env.get(
        f"{METRICS}/namespaces/{env.namespace}/pods/nope", user="admin", groups=admin_group
    )
    assert (status, body["reason"]) == (404, "NotFound")

    # A token: the admin's, reviewed by the apiserver (TokenReview), authorized by RBAC (SubjectAccessReview).
    bearer = {"Authorization": f"Bearer {env.server.token()}"}
    status, body = await env.get(pod_path, headers=bearer)
    assert status == 200 and body["kind"] == "PodMetrics"
    status, body = await env.get(pod_path, headers={"Authorization": "Bearer not-a-token"})
    assert (status, body["reason"]) == (401, "Unauthorized")

    # Front-proxy users: RBAC decides through a SubjectAccessReview.
    kubectl(
        env.server, "create", "clusterrolebinding", f"{env.namespace}-reader",
        "--clusterrole=system:aggregated-metrics-reader", "--user=jane",
    )  # fmt: skip
    try:
        status, body = await env.get(pod_path, user="jane")
        assert status == 200, body
        status, body = await env.get(pod_path, user="bob")
        assert (status, body["reason"]) == (403, "Forbidden"), body
        assert 'User "bob" cannot get resource "pods" in API group "metrics.k8s.io"' in body["message"]
    finally:
        kubectl(env.server, "delete", "clusterrolebinding", f"{env.namespace}-reader")

    # No credentials, or a certificate from a CA nobody trusts: 401. Health needs none.
    status, body = await env.get(pod_path)
    assert (status, body["reason"]) == (401, "Unauthorized")
    status, body = await env.get(pod_path, user="admin", groups=admin_group, ssl=env.front_proxy.stranger_ssl)
    assert (status, body["reason"]) == (401, "Unauthorized")
    for path in ("/livez", "/healthz"):
        assert (await env.get(path))[0] == 200
    status, body = await env.get("/metrics", user="admin", groups=admin_group)
    assert status == 200 and 'metrics_server_storage_points{type="container"}' in body["text"]
    assert (await env.get("/metrics", user="bob"))[0] == 403


def _registration(port: int) -> list[dict[str, Any]]:
    """The manifest's APIService, with its Service pointed at this in-process server (127.0.0.1:port)."""
    [apiservice] = [d for d in render(image="unused") if d["kind"] == "APIService"]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "metrics-server-test",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "metrics-server"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    return [service, endpoints, apiservice]


def _busy_deployment(namespace: str) -> list[dict[str, Any]]:
    labels = {"app": "busy"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "busy", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [BUSY], "terminationGracePeriodSeconds": 0},
            },
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "busy", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        },
    }
    return [deployment, hpa]


async def test_kubectl_top_and_the_hpa_through_the_aggregator(env: Env) -> None:
    docs = _registration(env.metrics.port) + _busy_deployment(env.namespace)
    kubectl(env.server, "apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in docs))
    try:

        async def top(*args: str) -> str:
            result = await asyncio.to_thread(kubectl, env.server, "top", *args, check=False)
            return result.stdout if result.returncode == 0 else ""

        async def node_row() -> str:
            return next((line for line in (await top("nodes")).splitlines() if line.startswith(NODE)), "")

        row = await env.eventually(node_row, 150, "kubectl top nodes lists this node")
        print(row)
        _name, cpu, _cpu_percent, memory, *_ = row.split()
        assert cpu.endswith("m") and int(cpu[:-1]) > 0 and memory.endswith("Mi"), row

        async def busy_row() -> str:
            out = await top("pods", "-A")
            return next((line for line in out.splitlines() if line.startswith(env.namespace)), "")

        row = await env.eventually(busy_row, 150, "kubectl top pods -A lists the busy pod")
        print(row)
        _namespace, pod_name, cpu, memory = row.split()
        assert pod_name.startswith("busy-") and int(cpu.removesuffix("m")) > 50, row

        async def scaled_up() -> int:
            result = await asyncio.to_thread(
                kubectl, env.server, "get", "deployment", "busy", "-n", env.namespace, "-o", "json"
            )
            replicas = json.loads(result.stdout)["spec"]["replicas"]
            return replicas if replicas > 1 else 0

        # ~250% of the 100m request against a 50% target: the HPA wants its maximum.
        assert await env.eventually(scaled_up, 150, "the HPA scales the busy Deployment up") == 2
    finally:
        kubectl(
            env.server,
            "delete",
            "-n",
            env.namespace,
            "hpa/busy",
            "deployment/busy",
            "--wait=false",
            check=False,
        )
        kubectl(
            env.server, "delete", "apiservice", "v1beta1.metrics.k8s.io", "--ignore-not-found", check=False
        )
        kubectl(env.server, "delete", "-n", "kube-system", "service/metrics-server", check=False)
        kubectl(env.server, "delete", "-n", "kube-system", "endpointslice/metrics-server-test", check=False)
