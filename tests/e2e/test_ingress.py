"""Issue 9's ingress acceptance on two netns nodes: the ``ingress`` addon (a DaemonSet on the
nodes' network) routes to two Deployments by host and by path through each node's port 80,
serves a TLS Ingress's Secret certificate on 443, writes the node addresses into the status,
and re-routes an edited Ingress within seconds with no failed request."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeling.addons import AddonValues, apply_addons
from kubeling.client.kubeconfig import load_kubeconfig
from kubeling.client.rest import RESTClient
from kubeling.pki import certs
from tests.e2e.conftest import ServicesLab

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

NS = "ingress-e2e"
BUSYBOX = "kubeling/busybox:0.1.0"
T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout:.0f}s; last answer {answer!r}")
        time.sleep(interval)


def apply(lab: ServicesLab, manifest: str) -> None:
    kubectl = str(Path(sys.executable).with_name("kubectl"))
    subprocess.run(
        [kubectl, "--kubeconfig", str(lab.lab.kubeconfig), "apply", "-f", "-"],
        input=manifest, text=True, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def fruit(name: str) -> str:
    """A Deployment + Service whose httpd answers ``/hostname`` and ``/<name>/hostname`` with its pod name."""
    script = (
        f"mkdir -p /www/{name} && hostname > /www/hostname && cp /www/hostname /www/{name}/"
        " && httpd -f -p 8080 -h /www"
    )
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: {BUSYBOX}
        command: [sh, -c, "{script}"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {NS}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def ingress(name: str, rules: str, tls: str = "") -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: {NS}}}
spec:
  ingressClassName: kubeling
{tls}  rules:
{rules}"""


def rule(host: str, *paths: tuple[str, str]) -> str:
    lines = f"  - host: {host}\n    http:\n      paths:\n"
    for path, service in paths:
        lines += (
            f"      - path: {path}\n        pathType: Prefix\n"
            f"        backend: {{service: {{name: {service}, port: {{number: 80}}}}}}\n"
        )
    return lines


async def _apply_ingress_addon(lab: ServicesLab) -> list[str]:
    from kubeling.image.build import ensure_kubeling_image

    client = RESTClient(load_kubeconfig(lab.lab.kubeconfig), component="e2e-ingress")
    try:
        values = AddonValues(image=ensure_kubeling_image(), apiserver_url=lab.lab.spec.apiserver_url)
        return await apply_addons(client, ["ingress"], values)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def fruits(services_lab: ServicesLab) -> ServicesLab:
    applied = asyncio.run(_apply_ingress_addon(services_lab))
    apply(services_lab, f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n")
    apply(services_lab, fruit("apple") + "---" + fruit("banana"))
    try:
        services_lab.lab.wait_rollouts(applied, timeout=120)
    except Exception:
        _print_diagnostics(services_lab)
        raise
    for name in ("apple", "banana"):
        services_lab.kubectl(
            "-n", NS, "rollout", "status", f"deployment/{name}", "--timeout=120s", timeout=130
        )
    return services_lab


def _print_diagnostics(lab: ServicesLab) -> None:
    """What the controller pods went through, for a failed rollout's report."""
    for args in (
        ("get", "pods", "-A", "-o", "wide"),
        ("-n", "kube-system", "describe", "daemonset/kubeling-ingress"),
        ("-n", "kube-system", "describe", "pods", "-l", "app.kubernetes.io/name=kubeling-ingress"),
        ("-n", "kube-system", "logs", "-l", "app.kubernetes.io/name=kubeling-ingress", "--tail=60"),
    ):
        result = lab.kubectl(*args, check=False)
        print(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")


def fetch(ip: str, host: str, path: str, port: int = 80) -> tuple[int, str]:
    connection = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        answer = connection.getresponse()
        return answer.status, answer.read().decode().strip()
    finally:
        connection.close()


def test_two_services_by_host_and_by_path_on_every_node(fruits: ServicesLab) -> None:
    apply(
        fruits,
        ingress(
            "fruits",
            rule("apple.test", ("/", "apple"))
            + rule("banana.test", ("/", "banana"))
            + rule("fruit.test", ("/", "apple"), ("/banana", "banana")),
        ),
    )
    for node in fruits.lab.nodes:
        eventually(lambda node=node: fetch(node.ip, "apple.test", "/hostname")[0] == 200, timeout=30)
        assert fetch(node.ip, "apple.test", "/hostname")[1].startswith("apple-")
        assert fetch(node.ip, "banana.test", "/hostname")[1].startswith("banana-")
        assert fetch(node.ip, "fruit.test", "/hostname")[1].startswith("apple-")
        assert fetch(node.ip, "fruit.test", "/banana/hostname")[1].startswith("banana-")
        assert fetch(node.ip, "unknown.test", "/hostname")[0] == 404

    def addresses() -> list[str]:
        status = fruits.get("ingress", "-n", NS, "fruits").get("status", {})
        return [entry.get("ip") for entry in status.get("loadBalancer", {}).get("ingress", [])]

    assert eventually(addresses, timeout=60) == sorted(node.ip for node in fruits.lab.nodes)


def _tls_secret(host: str) -> str:
    now = certs.utcnow()
    ca_key = certs.generate_key(certs.KeyType.ECDSA)
    ca = certs.new_ca(ca_key, common_name="ingress-e2e-ca", days=2, now=now)
    key = certs.generate_key(certs.KeyType.ECDSA)
    leaf = certs.issue(
        certs.CertRequest(host, usages=frozenset({certs.SERVER_AUTH}), dns_names=(host,)),
        public_key=key.public_key(), ca_cert=ca, ca_key=ca_key, days=1, now=now,
    )  # fmt: skip
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "secure-tls", "namespace": NS},
        "data": {
            "tls.crt": base64.b64encode(certs.cert_to_pem(leaf)).decode(),
            "tls.key": base64.b64encode(certs.key_to_pem(key)).decode(),
        },
    }
    return json.dumps(secret)


def served_subject(ip: str, server_name: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((ip, 443), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return str(
        x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    )


def test_tls_ingress_serves_the_secrets_certificate(fruits: ServicesLab) -> None:
    apply(fruits, _tls_secret("secure.test"))
    tls = "  tls:\n  - hosts: [secure.test]\n    secretName: secure-tls\n"
    apply(fruits, ingress("secure", rule("secure.test", ("/", "banana")), tls))
    node = fruits.lab.nodes[0]
    assert eventually(lambda: served_subject(node.ip, "secure.test") == "secure.test", timeout=30)
    assert served_subject(node.ip, "elsewhere.test") == "Kubernetes Ingress Controller Fake Certificate"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(node.ip, 443, timeout=5, context=context)
    try:
        connection.request("GET", "/hostname", headers={"Host": "secure.test"})
        assert connection.getresponse().read().decode().startswith("banana-")
    finally:
        connection.close()


def test_edit_reroutes_within_seconds_with_no_failed_request(fruits: ServicesLab) -> None:
    apply(fruits, ingress("flip", rule("flip.test", ("/", "apple"))))
    node = fruits.lab.nodes[1]
    eventually(lambda: fetch(node.ip, "flip.test", "/hostname")[1].startswith("apple-"), timeout=30)
    answers: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        connection = http.client.HTTPConnection(node.ip, 80, timeout=5)  # keep-alive across the change
        while not stop.is_set() and len(answers) < 5000:
            try:
                connection.request("GET", "/hostname", headers={"Host": "flip.test"})
                answer = connection.getresponse()
                body = answer.read().decode().strip()
                answers.append(body.split("-")[0] if answer.status == 200 else f"HTTP {answer.status}")
            except (OSError, http.client.HTTPException) as exc:
                answers.append(repr(exc))
                connection.close()
                connection = http.client.HTTPConnection(node.ip, 80, timeout=5)
        connection.close()

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        time.sleep(1)
        changed = time.monotonic()
        apply(fruits, ingress("flip", rule("flip.test", ("/", "banana"))))
        eventually(lambda: bool(answers) and answers[-1] == "banana", timeout=15, interval=0.05)
        rerouted_in = time.monotonic() - changed
        time.sleep(1)
    finally:
        stop.set()
        worker.join(15)
    failures = [a for a in answers if a not in ("apple", "banana")]
    print(f"re-routed in {rerouted_in:.2f}s; {len(answers)} requests, {len(failures)} failed")
    assert not failures, failures[:5]
    assert rerouted_in < 10
