"""The Ingress controller in-process against a real apiserver, proxying to local backends.

Covers: host and path routing with the forwarded headers, 404 without a rule,
503 without endpoints, other classes ignored, the default backend, TLS by SNI
from a kubernetes.io/tls Secret (and the fake certificate otherwise), a
re-route while requests run (none may fail), the status address, WebSocket
relaying, /healthz and /metrics.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeling.pki import certs
from tests.integration.ingress.conftest import NS, IngressHarness

pytestmark = pytest.mark.integration


def ingress_manifest(name: str, spec: dict[str, Any], class_name: str | None = "kubeling") -> dict[str, Any]:
    if class_name:
        spec = {"ingressClassName": class_name, **spec}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def path(value: str, service: str, path_type: str = "Prefix") -> dict[str, Any]:
    return {
        "path": value,
        "pathType": path_type,
        "backend": {"service": {"name": service, "port": {"number": 80}}},
    }


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(0.1)


def get(harness: IngressHarness, host: str, path: str = "/", **kwargs: Any) -> requests.Response:
    return requests.get(harness.http + path, headers={"Host": host}, timeout=5, **kwargs)


def backend_of(harness: IngressHarness, host: str, path: str = "/") -> str | int:
    answer = get(harness, host, path)
    return answer.json()["backend"] if answer.status_code == 200 else answer.status_code


@pytest.fixture(scope="module")
def routes(ingress: IngressHarness) -> IngressHarness:
    ingress.apply(
        ingress_manifest(
            "routes",
            {
                "rules": [
                    {"host": "alpha.test", "http": {"paths": [path("/", "alpha")]}},
                    {"host": "shop.test", "http": {"paths": [path("/", "alpha"), path("/api", "beta")]}},
                    {"host": "*.wild.test", "http": {"paths": [path("/", "gamma")]}},
                    {"host": "gone.test", "http": {"paths": [path("/", "empty")]}},
                ]
            },
        )
    )
    ingress.apply(
        ingress_manifest(
            "foreign", {"rules": [{"host": "foreign.test", "http": {"paths": [path("/", "beta")]}}]}, "nginx"
        )
    )
    eventually(lambda: backend_of(ingress, "alpha.test") == "alpha")
    return ingress


@pytest.mark.parametrize(
    ("host", "url_path", "expected"),
    [
        ("alpha.test", "/", "alpha"),
        ("shop.test", "/", "alpha"),
        ("shop.test", "/api/items?x=1", "beta"),
        ("shop.test", "/apiary", "alpha"),
        ("a.wild.test", "/z", "gamma"),
        ("a.b.wild.test", "/", 404),
        ("nowhere.test", "/", 404),
        ("foreign.test", "/", 404),  # another class's Ingress is not ours
        ("gone.test", "/", 503),  # a Service with no ready endpoint
    ],
)
def test_routes_by_host_and_path(
    routes: IngressHarness, host: str, url_path: str, expected: str | int
) -> None:
    assert backend_of(routes, host, url_path) == expected


def test_forwarded_headers_query_and_body(routes: IngressHarness) -> None:
    headers = {"Host": "shop.test", "X-Forwarded-For": "6.6.6.6"}
    answer = requests.post(routes.http + "/api/x?q=1", headers=headers, data=b"x" * 70000, timeout=5)
    seen = answer.json()
    assert (seen["backend"], seen["path"], seen["body"]) == ("beta", "/api/x?q=1", 70000)
    headers = seen["headers"]
    assert headers["Host"] == "shop.test"
    assert headers["X-Forwarded-For"] == "127.0.0.1"  # the client's address, not what it claimed
    assert headers["X-Forwarded-Host"] == "shop.test"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Port"] == str(routes.app.config.http_port)


def test_keep_alive_connection_is_reused(routes: IngressHarness) -> None:
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(routes.http, headers={"Host": "alpha.test"}, timeout=5).status_code == 200
        assert len(session.get_adapter(routes.http).poolmanager.pools) == 1


def test_status_address_is_written(routes: IngressHarness) -> None:
    def address() -> Any:
        status = json.loads(routes.kubectl("get", "ingress", "routes", "-o", "json").stdout)["status"]
        return status.get("loadBalancer", {}).get("ingress")

    assert eventually(address, timeout=15) == [{"ip": "127.0.0.1"}]
    assert "127.0.0.1" in routes.kubectl("get", "ingress", "routes").stdout  # kubectl's ADDRESS column
    foreign = json.loads(routes.kubectl("get", "ingress", "foreign", "-o", "json").stdout)
    assert not foreign.get("status", {}).get("loadBalancer", {}).get("ingress")


def test_default_backend(routes: IngressHarness) -> None:
    routes.apply(
        ingress_manifest(
            "fallback", {"defaultBackend": {"service": {"name": "gamma", "port": {"name": "http"}}}}
        )
    )
    try:
        assert eventually(lambda: backend_of(routes, "nowhere.test") == "gamma")
        assert backend_of(routes, "shop.test", "/api") == "beta"  # rules still win
    finally:
        routes.kubectl("delete", "ingress", "fallback")
    eventually(lambda: backend_of(routes, "nowhere.test") == 404)


def _tls_secret(host: str) -> dict[str, Any]:
    now = certs.utcnow()
    ca_key = certs.generate_key(certs.KeyType.ECDSA)
    ca = certs.new_ca(ca_key, common_name="ingress-it-ca", days=2, now=now)
    key = certs.generate_key(certs.KeyType.ECDSA)
    leaf = certs.issue(
        certs.CertRequest(host, usages=frozenset({certs.SERVER_AUTH}), dns_names=(host,)),
        public_key=key.public_key(), ca_cert=ca, ca_key=ca_key, days=1, now=now,
    )  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "secure-tls", "namespace": NS},
        "data": {
            "tls.crt": base64.b64encode(certs.cert_to_pem(leaf)).decode(),
            "tls.key": base64.b64encode(certs.key_to_pem(key)).decode(),
        },
    }


def served_subject(port: int, server_name: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return str(
        x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_certificate_from_secret_by_sni(routes: IngressHarness) -> None:
    routes.apply(_tls_secret("secure.test"))
    routes.apply(
        ingress_manifest(
            "secure",
            {
                "tls": [{"hosts": ["secure.test"], "secretName": "secure-tls"}],
                "rules": [{"host": "secure.test", "http": {"paths": [path("/", "beta")]}}],
            },
        )
    )
    port = routes.app.config.https_port
    assert eventually(lambda: served_subject(port, "secure.test") == "secure.test")
    assert served_subject(port, "other.test") == "Kubernetes Ingress Controller Fake Certificate"
    answer = requests.get(
        f"https://127.0.0.1:{port}/", headers={"Host": "secure.test"}, verify=False, timeout=5
    )
    assert answer.json()["backend"] == "beta"
    assert answer.json()["headers"]["X-Forwarded-Proto"] == "https"


def test_reroute_while_requests_run_drops_nothing(routes: IngressHarness) -> None:
    flip = lambda service: ingress_manifest(  # noqa: E731
        "flip", {"rules": [{"host": "flip.test", "http": {"paths": [path("/", service)]}}]}
    )
    routes.apply(flip("alpha"))
    eventually(lambda: backend_of(routes, "flip.test") == "alpha")
    answers: list[str | int] = []
    stop = threading.Event()

    def loop() -> None:
        with requests.Session() as session:  # one keep-alive connection across the change
            while not stop.is_set() and len(answers) < 5000:
                try:
                    answer = session.get(routes.http, headers={"Host": "flip.test"}, timeout=5)
                    answers.append(
                        answer.json()["backend"] if answer.status_code == 200 else answer.status_code
                    )
                except requests.RequestException as exc:
                    answers.append(repr(exc))

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        time.sleep(0.5)
        changed = time.monotonic()
        routes.apply(flip("beta"))
        eventually(lambda: answers and answers[-1] == "beta", timeout=10)
        rerouted_in = time.monotonic() - changed
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(10)
    failures = [a for a in answers if a not in ("alpha", "beta")]
    print(f"re-routed in {rerouted_in:.2f}s; {len(answers)} requests, {len(failures)} failed")
    assert not failures
    assert rerouted_in < 5
    switch = answers.index("beta")
    assert set(answers[:switch]) == {"alpha"} and set(answers[switch:]) == {"beta"}


def test_websocket_is_relayed(routes: IngressHarness) -> None:
    import websocket  # websocket-client

    ws = websocket.create_connection(
        f"ws://127.0.0.1:{routes.app.config.http_port}/ws", host="shop.test", timeout=5
    )
    try:
        ws.send("hello")
        assert ws.recv() == "alpha:hello"
    finally:
        ws.close()


def test_healthz_and_metrics(routes: IngressHarness) -> None:
    base = f"http://127.0.0.1:{routes.app.config.healthz_port}"
    assert requests.get(base + "/healthz", timeout=5).text == "ok"
    metrics = requests.get(base + "/metrics", timeout=5).text
    assert (
        'nginx_ingress_controller_requests{ingress="routes",namespace="ingress-it",service="alpha"' in metrics
    )
    assert "nginx_ingress_controller_config_last_reload_successful 1" in metrics
