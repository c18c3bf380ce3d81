"""``kubeling apiserver`` on its own, on an etcd that demands client certificates."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures.server import free_port, kubectl_path

pytestmark = pytest.mark.integration


def test_apiserver_on_tls_etcd_with_kubectl(tmp_path: Path, etcd_tls_server) -> None:
    port = free_port()
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('s3cret-token,alice,1000,"system:masters"\n')
    command = [
        sys.executable, "-m", "kubeling.cli", "apiserver",
        "--bind-address", "127.0.0.1", "--secure-port", str(port), "--cert-dir", str(tmp_path / "pki"),
        "--etcd-servers", ",".join(etcd_tls_server.endpoints),
        "--etcd-cafile", str(etcd_tls_server.ca_file), "--etcd-certfile", str(etcd_tls_server.cert_file),
        "--etcd-keyfile", str(etcd_tls_server.key_file), "--token-auth-file", str(tokens),
    ]  # fmt: skip
    log = (tmp_path / "apiserver.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "certificate-authority": str(tmp_path / "pki" / "ca.crt"),
                        },
                    }
                ],
                "users": [{"name": "alice", "user": {"token": "s3cret-token"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "alice"}}],
                "current-context": "c",
            }
        )
    )

    def kubectl(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = [f"--token={token}"] if token else []
        return subprocess.run(
            [kubectl_path(), f"--kubeconfig={kubeconfig}", *extra, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        deadline = time.monotonic() + 30
        while True:
            result = kubectl("get", "--raw", "/readyz")
            if result.returncode == 0 or time.monotonic() > deadline or process.poll() is not None:
                break
            time.sleep(0.2)
        assert result.stdout == "ok", (result.stderr, (tmp_path / "apiserver.log").read_text()[-3000:])
        namespaces = kubectl("get", "namespaces", "-o", "json")
        names = {n["metadata"]["name"] for n in json.loads(namespaces.stdout)["items"]}
        assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
        created = kubectl("create", "configmap", "tls-ok", "--from-literal=k=v")
        assert created.returncode == 0, created.stderr
        denied = kubectl("get", "pods", token="wrong-token")
        assert denied.returncode != 0 and "Unauthorized" in denied.stderr
    finally:
        process.terminate()
        process.wait(timeout=15)


def _ca(name: str):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def _client_cert(
    ca_key, ca_cert, user: str, groups: list[str], directory: Path, stem: str
) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    names.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name(names)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    crt, pem_key = directory / f"{stem}.crt", directory / f"{stem}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return crt, pem_key


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the apiserver did not start listening")


def test_x509_client_certificates(tmp_path: Path, etcd_server) -> None:
    from cryptography.hazmat.primitives import serialization

    ca_key, ca_cert = _ca("client-ca")
    other_key, other_cert = _ca("someone-else")
    client_ca = tmp_path / "client-ca.crt"
    client_ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    good = _client_cert(ca_key, ca_cert, "carol", ["team-a", "system:masters"], tmp_path, "carol")
    bad = _client_cert(other_key, other_cert, "mallory", ["system:masters"], tmp_path, "mallory")
    port = free_port()
    command = [
        sys.executable, "-m", "kubeling.cli", "apiserver", "--bind-address", "127.0.0.1",
        "--secure-port", str(port), "--cert-dir", str(tmp_path / "pki"),
        "--etcd-servers", ",".join(etcd_server.endpoints), "--client-ca-file", str(client_ca),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=(tmp_path / "log").open("wb"), stderr=subprocess.STDOUT)

    def kubectl(cert: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl_path(), f"--server=https://127.0.0.1:{port}",
             f"--certificate-authority={tmp_path}/pki/ca.crt",
             f"--client-certificate={cert[0]}", f"--client-key={cert[1]}", *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    try:
        _wait_listening(port, process)
        who = kubectl(good, "auth", "whoami", "-o", "json")
        assert who.returncode == 0, (who.stderr, (tmp_path / "log").read_text()[-3000:])
        info = json.loads(who.stdout)["status"]["userInfo"]
        assert info["username"] == "carol"
        assert info["groups"] == ["team-a", "system:masters", "system:authenticated"]
        # A certificate from an unknown CA gets through the handshake and is refused with 401.
        refused = kubectl(bad, "get", "namespaces")
        # kubectl's words for a 401 ("must be logged in"), whichever request met it first.
        assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr, (
            refused.stderr
        )
    finally:
        process.terminate()
        process.wait(timeout=15)
