"""The whole trust chain: ``kubeling pki init`` certificates for etcd and the
apiserver, Node,RBAC authorization, and the identities in its kubeconfigs."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fixtures.etcd import EtcdServer, TLSFiles
from tests.fixtures.server import free_port, kubectl_path

pytestmark = pytest.mark.integration

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "{name}"}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cluster-pki")
    pki = root / "pki"
    init = subprocess.run(
        [sys.executable, "-m", "kubeling.cli", "pki", "init", "--cluster", "lab", "--dir", str(pki),
         "--control-plane", "cp1=127.0.0.1", "--node", "n1=127.0.0.2", "--node", "n2=127.0.0.3"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    etcd_tls = TLSFiles(
        ca_file=pki / "etcd" / "ca.crt",
        server_cert=pki / "etcd" / "cp1" / "server.crt",
        server_key=pki / "etcd" / "cp1" / "server.key",
        client_cert=pki / "apiserver-etcd-client.crt",
        client_key=pki / "apiserver-etcd-client.key",
    )
    etcd = EtcdServer(root / "etcd", tls_files=etcd_tls).start()
    port = free_port()
    command = [
        sys.executable, "-m", "kubeling.cli", "apiserver",
        "--bind-address", "127.0.0.1", "--secure-port", str(port),
        "--tls-cert-file", str(pki / "apiserver.crt"), "--tls-private-key-file", str(pki / "apiserver.key"),
        "--client-ca-file", str(pki / "ca.crt"), "--authorization-mode", "Node,RBAC",
        "--service-account-key-file", str(pki / "sa.pub"),
        "--service-account-signing-key-file", str(pki / "sa.key"),
        "--etcd-servers", ",".join(etcd.endpoints), "--etcd-cafile", str(etcd_tls.ca_file),
        "--etcd-certfile", str(etcd_tls.client_cert), "--etcd-keyfile", str(etcd_tls.client_key),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=(root / "apiserver.log").open("wb"), stderr=subprocess.STDOUT)

    def kubectl(
        conf: str, *args: str, stdin: str | None = None, **flags: str
    ) -> subprocess.CompletedProcess[str]:
        extra = [f"--{k.replace('_', '-')}={v}" for k, v in flags.items()]
        argv = [
            kubectl_path(),
            f"--kubeconfig={pki / conf}",
            f"--server=https://127.0.0.1:{port}",
            *extra,
            *args,
        ]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=90)

    import time

    deadline = time.monotonic() + 30
    while kubectl("admin.conf", "get", "--raw", "/readyz").stdout != "ok":
        assert process.poll() is None and time.monotonic() < deadline, (root / "apiserver.log").read_text()[
            -3000:
        ]
        time.sleep(0.2)
    yield pki, kubectl
    process.terminate()
    process.wait(timeout=15)
    etcd.stop()


def test_admin_and_super_admin_identities(cluster) -> None:
    _, kubectl = cluster
    who = json.loads(kubectl("admin.conf", "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["username"] == "kubernetes-admin" and "kubeadm:cluster-admins" in who["groups"]
    assert kubectl("admin.conf", "create", "namespace", "pki-ok").returncode == 0
    super_admin = json.loads(kubectl("super-admin.conf", "auth", "whoami", "-o", "json").stdout)
    assert "system:masters" in super_admin["status"]["userInfo"]["groups"]
    # The scheduler's identity may bind pods but not read secrets.
    assert (
        kubectl("scheduler.conf", "auth", "can-i", "create", "pods", "--subresource=binding").stdout.strip()
        == "yes"
    )
    assert kubectl("scheduler.conf", "auth", "can-i", "get", "secrets").stdout.strip() == "no"


def test_a_kubelet_writes_its_own_node_only(cluster) -> None:
    _, kubectl = cluster
    own = json.dumps({**NODE, "metadata": {"name": "n1"}})
    other = json.dumps({**NODE, "metadata": {"name": "n2"}})
    created = kubectl("kubelet-n1.conf", "create", "-f", "-", stdin=own)
    assert created.returncode == 0, created.stderr
    refused = kubectl("kubelet-n1.conf", "create", "-f", "-", stdin=other)
    assert refused.returncode != 0 and "forbidden" in refused.stderr, refused.stderr
    made = kubectl("admin.conf", "create", "-f", "-", stdin=other)
    assert made.returncode == 0, made.stderr
    patched = kubectl("kubelet-n1.conf", "label", "node", "n2", "stolen=yes")
    assert patched.returncode != 0 and "forbidden" in patched.stderr, patched.stderr
    mine = kubectl("kubelet-n1.conf", "label", "node", "n1", "mine=yes")
    assert mine.returncode == 0, mine.stderr


def test_expired_certificate_and_wrong_token_get_401(cluster, tmp_path: Path) -> None:
    pki, kubectl = cluster
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    expired = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, "old-admin")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(long_ago).not_valid_after(long_ago + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    crt, pem = tmp_path / "old.crt", tmp_path / "old.key"
    crt.write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    result = kubectl("admin.conf", "get", "namespaces", client_certificate=str(crt), client_key=str(pem),
                     request_timeout="10s")  # fmt: skip
    assert result.returncode != 0 and "You must be logged in to the server" in result.stderr, result.stderr
    wrong = kubectl("admin.conf", "get", "namespaces", token="wrong")
    assert wrong.returncode != 0 and "Unauthorized" in wrong.stderr
