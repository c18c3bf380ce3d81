"""API aggregation end to end: a real extension apiserver behind an APIService.

The extension apiserver is a small aiohttp app over HTTPS on 127.0.0.1 that
demands a client certificate from the front-proxy CA (as a real one would,
from ``extension-apiserver-authentication``) and records what it was sent.
It is registered as upstream's extension servers are: a Service without a
selector, an EndpointSlice pointing at its port, an APIService with its CA.
The shared server fixture is ``kubeling server``, which routes to endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeling.pki import certs
from tests.fixtures.server import KubelingServer, free_port, kubectl

pytestmark = pytest.mark.integration

GROUP = "wardle.example.com"
VERSION = "v1alpha1"
NAMESPACE = "wardle"
SERVICE = "wardle-api"
APISERVICE = f"{VERSION}.{GROUP}"
RESOURCE_LIST = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {
            "name": "flunders",
            "singularName": "flunder",
            "namespaced": True,
            "kind": "Flunder",
            "verbs": ["get", "list", "watch"],
            "shortNames": ["fl"],
        }
    ],
}


@dataclass
class Seen:
    path: str
    query: str
    proxy_cn: str
    headers: dict[str, list[str]]


@dataclass
class ExtensionAPIServer:
    """An HTTPS extension apiserver in a thread of its own."""

    directory: Path
    front_proxy_ca: Path
    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    release_watch: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def make_certs(self) -> str:
        """Serving CA + certificate for <service>.<namespace>.svc; returns the CA as caBundle."""
        now = certs.utcnow()
        ca_key = certs.generate_key(certs.KeyType.ECDSA)
        ca = certs.new_ca(ca_key, common_name="wardle-ca", days=1, now=now)
        key = certs.generate_key(certs.KeyType.ECDSA)
        request = certs.CertRequest(
            common_name=SERVICE,
            usages=frozenset({certs.SERVER_AUTH}),
            dns_names=(f"{SERVICE}.{NAMESPACE}.svc",),
        )
        cert = certs.issue(request, public_key=key.public_key(), ca_cert=ca, ca_key=ca_key, days=1, now=now)
        (self.directory / "serving.crt").write_bytes(certs.cert_to_pem(cert))
        (self.directory / "serving.key").write_bytes(certs.key_to_pem(key))
        return base64.b64encode(certs.cert_to_pem(ca)).decode()

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.directory / "serving.crt", self.directory / "serving.key")
        context.verify_mode = ssl.CERT_REQUIRED  # only the aggregator's front-proxy certificate gets in
        context.load_verify_locations(self.front_proxy_ca)
        return context

    def _record(self, request: web.Request) -> None:
        der = request.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)  # type: ignore[union-attr]
        cert = x509.load_der_x509_certificate(der)
        common_name = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            headers.setdefault(key.lower(), []).append(value)
        self.seen.append(Seen(request.path, request.query_string, common_name, headers))

    async def _discovery(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response(RESOURCE_LIST)

    async def _flunders(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if request.query.get("watch") != "true":
            return web.json_response(
                {
                    "kind": "FlunderList",
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "metadata": {"resourceVersion": "7"},
                    "items": [{"metadata": {"name": "one", "namespace": request.match_info["ns"]}}],
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for name in ("first", "second"):
            event = {"type": "ADDED", "object": {"kind": "Flunder", "metadata": {"name": name}}}
            await response.write(json.dumps(event).encode() + b"\n")
            # The second event waits until the test has read the first through the apiserver.
            await asyncio.get_running_loop().run_in_executor(None, self.release_watch.wait, 10)
        await response.write_eof()
        return response

    def start(self) -> ExtensionAPIServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get(f"/apis/{GROUP}/{VERSION}", self._discovery)
            app.router.add_get(f"/apis/{GROUP}/{VERSION}/namespaces/{{ns}}/flunders", self._flunders)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._ssl_context())
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self.release_watch.set()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None


def _manifests(port: int, ca_bundle: str) -> str:
    """The registration, as YAML documents (kubectl validates a List only against OpenAPI v2)."""
    return "\n---\n".join(
        json.dumps(item)
        for item in [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{SERVICE}-manual",
                    "namespace": NAMESPACE,
                    "labels": {"kubernetes.io/service-name": SERVICE},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            },
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": APISERVICE},
                "spec": {
                    "group": GROUP,
                    "version": VERSION,
                    "groupPriorityMinimum": 1000,
                    "versionPriority": 15,
                    "service": {"namespace": NAMESPACE, "name": SERVICE},
                    "caBundle": ca_bundle,
                },
            },
        ]
    )


def _available(server: KubelingServer) -> dict[str, Any]:
    status, body = server.request("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
    assert status == 200, body
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Available"), {})


def _wait_available(server: KubelingServer, status: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    condition: dict[str, Any] = {}
    while time.monotonic() < deadline:
        condition = _available(server)
        if condition.get("status") == status:
            return condition
        time.sleep(0.2)
    raise AssertionError(f"APIService never became Available={status}: {condition}")


@pytest.fixture
def extension(server: KubelingServer, tmp_path: Path) -> Iterator[ExtensionAPIServer]:
    backend = ExtensionAPIServer(tmp_path, server.data_dir / "pki" / "front-proxy-ca.crt")
    ca_bundle = backend.make_certs()
    backend.start()
    try:
        kubectl(server, "apply", "-f", "-", input=_manifests(backend.port, ca_bundle))
        yield backend
    finally:
        backend.stop()
        # The namespace stays: a Terminating one would refuse the next test's objects.
        kubectl(server, "delete", "apiservice", APISERVICE, "--ignore-not-found", check=False)


def test_requests_reach_the_extension_apiserver_as_the_caller(
    server: KubelingServer, extension: ExtensionAPIServer
) -> None:
    _wait_available(server, "True")
    path = f"/apis/{GROUP}/{VERSION}/namespaces/default/flunders"
    out = kubectl(server, "get", "--raw", f"{path}?limit=5").stdout
    assert json.loads(out)["items"][0]["metadata"]["name"] == "one"

    seen = [s for s in extension.seen if s.path == path][-1]
    assert seen.proxy_cn == "front-proxy-client"
    assert seen.query == "limit=5"
    assert seen.headers["x-remote-user"] == ["admin"]
    assert set(seen.headers["x-remote-group"]) == {"system:masters", "system:authenticated"}
    assert "authorization" not in seen.headers

    # A caller's own identity headers are dropped, never passed on.
    status, _ = server.request("GET", path, headers={"X-Remote-User": "mallory", "X-Remote-Group": "evil"})
    assert status == 200
    seen = [s for s in extension.seen if s.path == path][-1]
    assert seen.headers["x-remote-user"] == ["admin"]
    assert "evil" not in seen.headers["x-remote-group"]

    # Authorization happens here before any proxying, as in upstream's aggregator: anonymous gets 403.
    count = len(extension.seen)
    try:
        urllib.request.urlopen(f"{server.url}{path}", context=server.ssl_context(), timeout=10)
        raise AssertionError("an anonymous request went through")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
    assert len(extension.seen) == count

    table = kubectl(server, "get", "apiservice", APISERVICE).stdout.splitlines()
    assert table[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    assert table[1].split()[:3] == [APISERVICE, f"{NAMESPACE}/{SERVICE}", "True"]
    assert _available(server)["reason"] == "Passed"


def test_discovery_lists_the_aggregated_group(server: KubelingServer, extension: ExtensionAPIServer) -> None:
    _wait_available(server, "True")
    resources = kubectl(server, "api-resources", "--api-group", GROUP).stdout
    assert "flunders" in resources and "Flunder" in resources and f"{GROUP}/{VERSION}" in resources

    status, body = server.request("GET", "/apis")
    groups = {g["name"]: g for g in json.loads(body)["groups"]}
    assert groups[GROUP]["preferredVersion"]["version"] == VERSION
    status, body = server.request("GET", f"/apis/{GROUP}")
    assert status == 200 and json.loads(body)["versions"] == [
        {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}
    ]

    kubectl(server, "delete", "apiservice", APISERVICE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, body = server.request("GET", "/apis")
        if GROUP not in {g["name"] for g in json.loads(body)["groups"]}:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the group stayed in /apis after its APIService was deleted")
    assert "flunders" not in kubectl(server, "api-resources").stdout
    status, _ = server.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/flunders")
    assert status == 404


def test_watches_stream_through_the_proxy(server: KubelingServer, extension: ExtensionAPIServer) -> None:
    _wait_available(server, "True")
    request = urllib.request.Request(
        f"{server.url}/apis/{GROUP}/{VERSION}/namespaces/default/flunders?watch=true"
    )
    request.add_header("Authorization", f"Bearer {server.token()}")
    with urllib.request.urlopen(request, context=server.ssl_context(), timeout=10) as response:
        # The backend holds the second event until we have read the first: it must arrive alone.
        first = json.loads(response.readline())
        extension.release_watch.set()
        second = json.loads(response.readline())
    assert [first["object"]["metadata"]["name"], second["object"]["metadata"]["name"]] == ["first", "second"]


def test_a_stopped_backend_makes_the_apiservice_unavailable(
    server: KubelingServer, extension: ExtensionAPIServer
) -> None:
    _wait_available(server, "True")
    extension.stop()
    status, body = server.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/flunders")
    assert status == 503
    assert json.loads(body)["reason"] == "ServiceUnavailable"
    condition = _wait_available(server, "False")
    assert condition["reason"] == "FailedDiscoveryCheck"
    assert f"failing or missing response from /apis/{GROUP}/{VERSION}" in condition["message"]
    row = kubectl(server, "get", "apiservice", APISERVICE, "--no-headers").stdout.split()
    assert row[2:4] == ["False", "(FailedDiscoveryCheck)"]
    status, body = server.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/flunders")
    assert status == 503 and json.loads(body)["kind"] == "Status"


# -- request-header authentication and what extension apiservers read ------------------------------


def test_extension_apiserver_authentication_configmap(server: KubelingServer) -> None:
    status, body = server.request(
        "GET", "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
    )
    assert status == 200, body
    data = json.loads(body)["data"]
    pki = server.data_dir / "pki"
    assert data == {
        "client-ca-file": (pki / "ca.crt").read_text(),
        "requestheader-client-ca-file": (pki / "front-proxy-ca.crt").read_text(),
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    }


def _intruder_cert(pki: Path, directory: Path) -> tuple[Path, Path]:
    """A client certificate from the front-proxy CA whose CN is not an allowed name."""
    ca = certs.load_cert((pki / "front-proxy-ca.crt").read_bytes())
    ca_key = certs.load_key((pki / "front-proxy-ca.key").read_bytes())
    key = certs.generate_key(certs.KeyType.ECDSA)
    request = certs.CertRequest(common_name="intruder", usages=frozenset({certs.CLIENT_AUTH}))
    cert = certs.issue(
        request, public_key=key.public_key(), ca_cert=ca, ca_key=ca_key, days=1, now=certs.utcnow()
    )
    (directory / "intruder.crt").write_bytes(certs.cert_to_pem(cert))
    (directory / "intruder.key").write_bytes(certs.key_to_pem(key))
    return directory / "intruder.crt", directory / "intruder.key"


def _whoami(server: KubelingServer, cert: Path, key: Path) -> tuple[int, dict[str, Any]]:
    """A SelfSubjectReview sent with a client certificate and front-proxy identity headers."""
    context = server.ssl_context()
    context.load_cert_chain(cert, key)
    request = urllib.request.Request(
        f"{server.url}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        data=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Remote-User": "alice",
            "X-Remote-Group": "team-a",
            "X-Remote-Extra-Scopes": "read",
        },
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_request_headers_count_only_from_an_allowed_front_proxy(
    server: KubelingServer, tmp_path: Path
) -> None:
    pki = server.data_dir / "pki"
    status, body = _whoami(server, pki / "front-proxy-client.crt", pki / "front-proxy-client.key")
    assert status == 201, body
    user = body["status"]["userInfo"]
    assert user["username"] == "alice"
    assert user["groups"] == ["team-a", "system:authenticated"]
    assert user["extra"] == {"scopes": ["read"]}

    # A user's certificate (the cluster CA's) is that user, whatever headers it sends.
    node_cert = next(pki.glob("kubelet-*.crt"))
    status, body = _whoami(server, node_cert, node_cert.with_suffix(".key"))
    assert status == 201 and body["status"]["userInfo"]["username"].startswith("system:node:")

    # The front-proxy CA's certificate with a CN that is not allowed asserts nothing, and is no user.
    status, body = _whoami(server, *_intruder_cert(pki, tmp_path))
    assert status == 401 and body["reason"] == "Unauthorized"
