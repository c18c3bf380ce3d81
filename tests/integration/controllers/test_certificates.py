"""CertificateSigningRequests end to end: real kubectl, the all-in-one server's csrsigning and
csrapproving controllers, certificates checked against the server's CA."""

from __future__ import annotations

import base64
import datetime
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.rest import RESTClient
from kubeling.controllers.certificates import CSRS as CSR_RESOURCE
from kubeling.pki import csr as csrs
from kubeling.pki.certs import (
    CLIENT_AUTH,
    CertRequest,
    KeyType,
    cert_to_pem,
    generate_key,
    is_signed_by,
    issue,
    key_to_pem,
    load_cert,
    load_key,
    utcnow,
)
from tests.fixtures.controllers import eventually
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

CSRS = "certificatesigningrequests.certificates.k8s.io"


def _csr_manifest(name: str, request: bytes, signer: str, usages: list[str], seconds: int | None) -> str:
    spec: dict[str, object] = {
        "request": base64.b64encode(request).decode(),
        "signerName": signer,
        "usages": usages,
    }
    if seconds is not None:
        spec["expirationSeconds"] = seconds
    return json.dumps(
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def _wait_certificate(server: KubelingServer, name: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        csr = json.loads(kubectl(server, "get", "csr", name, "-o", "json").stdout)
        if (csr.get("status") or {}).get("certificate"):
            return csr
        time.sleep(0.2)
    raise AssertionError(f"{name} got no certificate in {timeout}s: {csr}")


def test_kubectl_approved_client_csr_is_signed_by_the_cluster_ca(server: KubelingServer) -> None:
    key = generate_key(KeyType.ECDSA)
    request = csrs.build_request(key, common_name="jane", organizations=("devs",))
    kubectl(
        server,
        "create",
        "-f",
        "-",
        input=_csr_manifest(
            "jane", request, csrs.KUBE_APISERVER_CLIENT, ["digital signature", "client auth"], 3600
        ),
    )
    created = json.loads(kubectl(server, "get", "csr", "jane", "-o", "json").stdout)
    assert created["spec"]["username"]  # stamped by the server from who asked
    assert "system:authenticated" in created["spec"]["groups"]
    listing = kubectl(server, "get", "csr", "jane").stdout
    assert "Pending" in listing and csrs.KUBE_APISERVER_CLIENT in listing

    kubectl(server, "certificate", "approve", "jane")
    signed = _wait_certificate(server, "jane")
    kinds = {c["type"]: c for c in signed["status"]["conditions"]}
    assert kinds["Approved"]["reason"] == "KubectlApprove"
    assert "Approved,Issued" in kubectl(server, "get", "csr", "jane").stdout

    cert = load_cert(base64.b64decode(signed["status"]["certificate"]))
    ca = load_cert((server.data_dir / "pki" / "ca.crt").read_bytes())
    assert is_signed_by(cert, ca)
    assert cert.public_key() == key.public_key()
    assert cert.subject.rfc4514_string() == "CN=jane,O=devs"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    lifetime = cert.not_valid_after_utc - utcnow()
    assert datetime.timedelta(minutes=55) < lifetime <= datetime.timedelta(hours=1)

    # The issued certificate logs in as jane (who may not list pods: 403, not 401).
    kubeconfig = server.data_dir / "jane.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": server.url,
                            "certificate-authority-data": base64.b64encode(cert_to_pem(ca)).decode(),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "jane",
                        "user": {
                            "client-certificate-data": signed["status"]["certificate"],
                            "client-key-data": base64.b64encode(key_to_pem(key)).decode(),
                        },
                    }
                ],
                "contexts": [{"name": "jane", "context": {"cluster": "c", "user": "jane"}}],
                "current-context": "jane",
            }
        )
    )
    whoami = kubectl(server, "--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json", check=False)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "jane", whoami.stderr
    kubectl(server, "delete", "csr", "jane")


def test_csr_validation_and_immutable_spec(server: KubelingServer) -> None:
    bad = kubectl(
        server,
        "create",
        "-f",
        "-",
        input=_csr_manifest("bad", b"not a csr", csrs.KUBE_APISERVER_CLIENT, ["client auth"], 60),
        check=False,
    )
    assert bad.returncode != 0
    assert "PEM block type must be CERTIFICATE REQUEST" in bad.stderr
    assert "spec.expirationSeconds" in bad.stderr

    request = csrs.build_request(generate_key(KeyType.ECDSA), common_name="x")
    kubectl(
        server,
        "create",
        "-f",
        "-",
        input=_csr_manifest("denied", request, "example.com/custom", ["client auth"], None),
    )
    kubectl(server, "certificate", "deny", "denied")
    time.sleep(1)
    csr = json.loads(kubectl(server, "get", "csr", "denied", "-o", "json").stdout)
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Denied"]
    assert "certificate" not in csr["status"]  # nobody signs a denied request
    # A status write cannot approve (only /approval can), nor a certificate appear unapproved.
    patched = kubectl(
        server,
        "patch",
        "csr",
        "denied",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"certificate": base64.b64encode(b"x").decode()}}),
        check=False,
    )
    assert patched.returncode != 0 and "status.certificate" in patched.stderr
    kubectl(server, "delete", "csr", "denied")


def node_client(server: KubelingServer, node: str, lifetime: datetime.timedelta) -> RESTClient:
    """A client with a certificate ``system:node:<node>`` from the server's CA, valid ``lifetime``."""
    pki = server.data_dir / "pki"
    ca, ca_key = load_cert((pki / "ca.crt").read_bytes()), load_key((pki / "ca.key").read_bytes())
    key = generate_key(KeyType.ECDSA)
    now = utcnow()
    cert = issue(
        CertRequest(f"system:node:{node}", ("system:nodes",), frozenset({CLIENT_AUTH})),
        public_key=key.public_key(),
        ca_cert=ca,
        ca_key=ca_key,
        days=1,
        now=now,
    )
    if lifetime < datetime.timedelta(days=1):
        # Re-sign with an exact, short validity starting now (issue() backdates five minutes).
        builder = (
            x509.CertificateBuilder()
            .subject_name(cert.subject)
            .issuer_name(cert.issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + lifetime)
        )
        for extension in cert.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
        cert = builder.sign(ca_key, hashes.SHA256())
    config = ClientConfig(
        server=server.url, ca_file=str(pki / "ca.crt"), cert_data=cert_to_pem(cert), key_data=key_to_pem(key)
    )
    return RESTClient(config, component="test-node", qps=0)


AUTOAPPROVE_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "kubeling:node-autoapprove-certificate-rotation"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    },
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}],
}


@pytest.fixture
def autoapprove(server: KubelingServer):
    kubectl(server, "apply", "-f", "-", input=json.dumps(AUTOAPPROVE_BINDING))
    yield
    kubectl(
        server, "delete", "clusterrolebinding", AUTOAPPROVE_BINDING["metadata"]["name"], "--ignore-not-found"
    )


async def test_node_renewal_csr_is_auto_approved_and_signed(
    server: KubelingServer, autoapprove: None
) -> None:
    client = node_client(server, "csr-node-1", datetime.timedelta(days=1))
    try:
        key = generate_key(KeyType.ECDSA)
        request = csrs.build_request(
            key, common_name="system:node:csr-node-1", organizations=("system:nodes",)
        )
        # Another node's name is not this node's to ask for: left pending.
        other = csrs.build_request(
            key, common_name="system:node:someone-else", organizations=("system:nodes",)
        )
        names = {}
        for label, pem in {"own": request, "other": other}.items():
            created = await client.create(
                CSR_RESOURCE,
                {
                    "apiVersion": "certificates.k8s.io/v1",
                    "kind": "CertificateSigningRequest",
                    "metadata": {"generateName": f"node-{label}-"},
                    "spec": {
                        "request": base64.b64encode(pem).decode(),
                        "signerName": csrs.KUBE_APISERVER_CLIENT_KUBELET,
                        "usages": ["digital signature", "client auth"],
                    },
                },
            )
            names[label] = created["metadata"]["name"]
            assert created["spec"]["username"] == "system:node:csr-node-1"

        async def issued() -> dict | None:
            csr = await client.get(CSR_RESOURCE, name=names["own"])
            return csr if (csr.get("status") or {}).get("certificate") else None

        csr = await eventually(issued, timeout=20)
        approved = next(c for c in csr["status"]["conditions"] if c["type"] == "Approved")
        assert approved["reason"] == "AutoApproved"
        assert "self kubelet client certificate" in approved["message"]
        cert = load_cert(base64.b64decode(csr["status"]["certificate"]))
        assert cert.subject.rfc4514_string() == "CN=system:node:csr-node-1,O=system:nodes"
        other_csr = await client.get(CSR_RESOURCE, name=names["other"])
        assert not (other_csr.get("status") or {}).get("conditions")
    finally:
        await client.close()
