"""``python -m kubeling.cli pki ...`` end to end, checked with cryptography, openssl and a TLS handshake."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from kubeling.pki import kubeconfig

CLUSTER_ARGS = [
    "--cluster",
    "demo",
    "--control-plane",
    "cp1=10.0.0.11",
    "--control-plane",
    "cp2=10.0.0.12",
    "--node",
    "w1=10.0.0.21",
    "--apiserver-endpoint",
    "k8s.example.com",
]
CAS = ["ca", "etcd/ca", "front-proxy-ca"]
LEAF_FILES = [
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-client",
    "etcd/cp1/server",
    "etcd/cp1/peer",
    "etcd/cp2/server",
    "etcd/cp2/peer",
    "etcd/healthcheck-client",
    "apiserver-etcd-client",
    "kubelet/cp1",
    "kubelet/cp2",
    "kubelet/w1",
]
KUBECONFIGS = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kube-proxy.conf",
    "kubelet-cp1.conf",
    "kubelet-cp2.conf",
    "kubelet-w1.conf",
]


def pki(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeling.cli", "pki", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def init(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    directory.parent.mkdir(parents=True, exist_ok=True)  # the tool creates directory itself
    result = pki(directory.parent, "init", *CLUSTER_ARGS, "--dir", str(directory), *extra)
    assert result.returncode == 0, result.stderr
    return result


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """File → (sha256, mode) for everything under directory."""
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode & 0o777)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def changed(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def cert_pem(directory: Path, name: str) -> bytes:
    """A certificate's PEM, from NAME.crt or from the kubeconfig NAME.conf."""
    if name.endswith(".conf"):
        return kubeconfig.parse((directory / name).read_bytes()).cert_pem
    return (directory / f"{name}.crt").read_bytes()


def load(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_pem(directory, name))


def extensions(cert: x509.Certificate) -> dict[x509.ObjectIdentifier, x509.ExtensionType]:
    """The extensions that say what a certificate is for (the key identifiers aside)."""
    kept = (x509.SubjectAlternativeName, x509.ExtendedKeyUsage, x509.KeyUsage, x509.BasicConstraints)
    return {ext.oid: ext.value for ext in cert.extensions if isinstance(ext.value, kept)}


def openssl_text(directory: Path, name: str, tmp_path: Path) -> str:
    path = tmp_path / "cert.pem"
    path.write_bytes(cert_pem(directory, name))
    return subprocess.run(
        ["openssl", "x509", "-text", "-noout", "-in", str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki-template") / "certs" / "demo"
    init(directory)
    return directory


@pytest.fixture
def certs_dir(template: Path, tmp_path: Path) -> Path:
    """A private copy of the initialised PKI (modes preserved)."""
    directory = tmp_path / "certs" / "demo"
    shutil.copytree(template, directory)
    return directory


def test_files_and_modes(template: Path) -> None:
    files = snapshot(template)
    expected = {f"{stem}{ext}" for stem in CAS + LEAF_FILES for ext in (".crt", ".key")}
    expected |= set(KUBECONFIGS) | {"sa.key", "sa.pub", "pki.json"}
    assert set(files) == expected
    for name, (_, mode) in files.items():
        secret = name.endswith((".key", ".conf"))
        assert mode == (0o600 if secret else 0o644), name


# name → (openssl subject line, extended key usages, signing CA file)
IDENTITIES = {
    "apiserver": ("CN = kube-apiserver", ["TLS Web Server Authentication"], "ca"),
    "apiserver-kubelet-client": (
        "O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client",
        ["TLS Web Client Authentication"],
        "ca",
    ),
    "front-proxy-client": ("CN = front-proxy-client", ["TLS Web Client Authentication"], "front-proxy-ca"),
    "etcd/cp2/server": (
        "CN = cp2",
        ["TLS Web Client Authentication", "TLS Web Server Authentication"],
        "etcd/ca",
    ),
    "etcd/cp1/peer": (
        "CN = cp1",
        ["TLS Web Client Authentication", "TLS Web Server Authentication"],
        "etcd/ca",
    ),
    "etcd/healthcheck-client": (
        "CN = kube-etcd-healthcheck-client",
        ["TLS Web Client Authentication"],
        "etcd/ca",
    ),
    "apiserver-etcd-client": (
        "CN = kube-apiserver-etcd-client",
        ["TLS Web Client Authentication"],
        "etcd/ca",
    ),
    "kubelet/w1": ("O = system:nodes, CN = system:node:w1", ["TLS Web Server Authentication"], "ca"),
    "admin.conf": (
        "O = kubeadm:cluster-admins, CN = kubernetes-admin",
        ["TLS Web Client Authentication"],
        "ca",
    ),
    "super-admin.conf": (
        "O = system:masters, CN = kubernetes-super-admin",
        ["TLS Web Client Authentication"],
        "ca",
    ),
    "controller-manager.conf": (
        "CN = system:kube-controller-manager",
        ["TLS Web Client Authentication"],
        "ca",
    ),
    "scheduler.conf": ("CN = system:kube-scheduler", ["TLS Web Client Authentication"], "ca"),
    "kube-proxy.conf": ("CN = system:kube-proxy", ["TLS Web Client Authentication"], "ca"),
    "kubelet-cp1.conf": ("O = system:nodes, CN = system:node:cp1", ["TLS Web Client Authentication"], "ca"),
}


@pytest.mark.parametrize("name", sorted(IDENTITIES), ids=str)
def test_leaf_identity_usages_and_chain(template: Path, tmp_path: Path, name: str) -> None:
    subject, usages, ca = IDENTITIES[name]
    text = openssl_text(template, name, tmp_path)
    assert f"Subject: {subject}\n" in text
    assert f"Issuer: CN = {load(template, ca).subject.rfc4514_string()[3:]}\n" in text
    eku_line = text.split("X509v3 Extended Key Usage: \n")[1].splitlines()[0].strip()
    assert sorted(eku_line.split(", ")) == usages
    assert "CA:FALSE" in text
    purpose = "sslserver" if "TLS Web Server Authentication" in usages else "sslclient"
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            str(template / f"{ca}.crt"),
            str(tmp_path / "cert.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # The key that goes with it is the certificate's own.
    cert = load(template, name)
    if name.endswith(".conf"):
        key_pem = kubeconfig.parse((template / name).read_bytes()).key_pem
    else:
        key_pem = (template / f"{name}.key").read_bytes()
    assert load_pem_private_key(key_pem, None).public_key() == cert.public_key()


@pytest.mark.parametrize(
    ("name", "sans"),
    [
        (
            "apiserver",
            "DNS:cp1, DNS:cp2, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, "
            "DNS:kubernetes.default.svc.cluster.local, DNS:localhost, DNS:k8s.example.com, "
            "IP Address:10.96.0.1, IP Address:10.0.0.11, IP Address:10.0.0.12, IP Address:127.0.0.1",
        ),
        (
            "etcd/cp2/server",
            "DNS:cp2, DNS:localhost, IP Address:10.0.0.12, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
        ),
        ("kubelet/w1", "DNS:w1, IP Address:10.0.0.21"),
    ],
    ids=["apiserver", "etcd-server", "kubelet-serving"],
)
def test_sans(template: Path, tmp_path: Path, name: str, sans: str) -> None:
    text = openssl_text(template, name, tmp_path)
    assert text.split("X509v3 Subject Alternative Name: \n")[1].splitlines()[0].strip() == sans


@pytest.mark.parametrize(
    ("ca", "cn"), [("ca", "kubernetes"), ("etcd/ca", "etcd-ca"), ("front-proxy-ca", "front-proxy-ca")]
)
def test_cas(template: Path, tmp_path: Path, ca: str, cn: str) -> None:
    text = openssl_text(template, ca, tmp_path)
    assert f"Subject: CN = {cn}\n" in text and f"Issuer: CN = {cn}\n" in text
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in text
    assert "Certificate Sign" in text
    cert = load(template, ca)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=3650, minutes=5)


def test_validity_and_key_types(template: Path) -> None:
    leaf = load(template, "apiserver")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(days=365, minutes=5)
    assert abs(leaf.not_valid_before_utc - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(
        minutes=10
    )
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    sa_key = load_pem_private_key((template / "sa.key").read_bytes(), None)
    assert isinstance(sa_key, rsa.RSAPrivateKey) and sa_key.key_size == 2048
    assert load_pem_public_key((template / "sa.pub").read_bytes()) == sa_key.public_key()


def test_kubeconfigs_point_at_the_endpoint(template: Path) -> None:
    ca = (template / "ca.crt").read_bytes()
    for name in KUBECONFIGS:
        creds = kubeconfig.parse((template / name).read_bytes())
        assert (creds.cluster, creds.server, creds.ca_pem) == ("demo", "https://k8s.example.com:6443", ca)
        assert (
            creds.user
            == load(template, name).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        )


def test_rsa_key_type(tmp_path: Path) -> None:
    directory = tmp_path / "rsa"
    init(directory, "--key-type", "rsa", "--leaf-days", "30", "--ca-days", "60")
    for name in ("ca", "apiserver", "etcd/cp1/peer", "admin.conf"):
        key = load(directory, name).public_key()
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    leaf, ca = load(directory, "apiserver"), load(directory, "ca")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(days=30, minutes=5)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == datetime.timedelta(days=60, minutes=5)
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_second_init_changes_no_byte(certs_dir: Path) -> None:
    before = snapshot(certs_dir)
    inodes = {p: p.stat().st_ino for p in certs_dir.rglob("*")}
    result = init(certs_dir)
    assert snapshot(certs_dir) == before
    # Not even rewritten with the same bytes: an atomic write would have replaced the inode.
    assert {p: p.stat().st_ino for p in certs_dir.rglob("*")} == inodes
    assert "up to date" in result.stdout


def test_adding_a_node_adds_only_its_files(certs_dir: Path) -> None:
    before = snapshot(certs_dir)
    init(certs_dir, "--node", "w2=10.0.0.22")
    assert changed(before, snapshot(certs_dir)) == {
        "kubelet/w2.crt",
        "kubelet/w2.key",
        "kubelet-w2.conf",
        "pki.json",
    }
    assert load(certs_dir, "kubelet-w2.conf").subject.rfc4514_string() == "CN=system:node:w2,O=system:nodes"


def test_adding_a_control_plane_reissues_only_the_apiserver_cert(certs_dir: Path) -> None:
    before = snapshot(certs_dir)
    old = load(certs_dir, "apiserver")
    init(certs_dir, "--control-plane", "cp3=10.0.0.13")
    new_files = {"etcd/cp3/server", "etcd/cp3/peer", "kubelet/cp3"}
    expected = {f"{stem}{ext}" for stem in new_files for ext in (".crt", ".key")}
    assert changed(before, snapshot(certs_dir)) == expected | {
        "apiserver.crt",
        "kubelet-cp3.conf",
        "pki.json",
    }
    new = load(certs_dir, "apiserver")
    sans = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "cp3" in sans.get_values_for_type(x509.DNSName)
    assert new.public_key() == old.public_key()  # the key is kept


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("apiserver", {"apiserver.crt"}),
        ("etcd-peer", {"etcd/cp1/peer.crt", "etcd/cp2/peer.crt"}),
        ("admin.conf", {"admin.conf"}),
        ("kubelet-w1.conf", {"kubelet-w1.conf"}),
        ("all", {f"{stem}.crt" for stem in LEAF_FILES} | set(KUBECONFIGS)),
    ],
    ids=["apiserver", "etcd-peer", "admin.conf", "kubelet-w1.conf", "all"],
)
def test_renew(certs_dir: Path, name: str, files: set[str]) -> None:
    names = [n.removesuffix(".crt") for n in files]
    old = {n: load(certs_dir, n) for n in names}
    before = snapshot(certs_dir)
    result = pki(certs_dir.parent, "renew", name, "--dir", str(certs_dir), "--leaf-days", "400")
    assert result.returncode == 0, result.stderr
    assert changed(before, snapshot(certs_dir)) == files  # CAs, keys and the rest keep every byte
    for n, cert in old.items():
        new = load(certs_dir, n)
        assert new.subject == cert.subject and new.issuer == cert.issuer
        assert extensions(new) == extensions(cert)
        assert new.public_key() == cert.public_key()
        assert new.serial_number != cert.serial_number
        assert new.not_valid_after_utc - cert.not_valid_after_utc > datetime.timedelta(days=34)


def test_check_expiration(certs_dir: Path) -> None:
    result = pki(certs_dir.parent, "check-expiration", "--dir", str(certs_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = [
        "CERTIFICATE",
        "EXPIRES",
        "RESIDUAL",
        "TIME",
        "CERTIFICATE",
        "AUTHORITY",
        "EXTERNALLY",
        "MANAGED",
    ]
    assert lines[0].split() == header
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith("CERTIFICATE")}
    assert rows["admin.conf"].split()[-3:] == ["364d", "ca", "no"]
    assert rows["etcd-server-cp2"].split()[-2:] == ["etcd-ca", "no"]
    assert rows["etcd-ca"].split()[-2:] == ["9y", "no"]
    assert any(line.startswith("CERTIFICATE AUTHORITY   EXPIRES") for line in lines)

    warned = pki(certs_dir.parent, "check-expiration", "--dir", str(certs_dir), "--warn-days", "400")
    assert warned.returncode == 1
    assert "apiserver" in warned.stderr and "etcd-ca" not in warned.stderr


def test_check_expiration_after_a_short_lived_init(tmp_path: Path) -> None:
    directory = tmp_path / "short"
    init(directory, "--leaf-days", "5")
    assert pki(tmp_path, "check-expiration", "--dir", str(directory)).returncode == 1
    assert pki(tmp_path, "check-expiration", "--dir", str(directory), "--warn-days", "4").returncode == 0


def _garble(path: str) -> Callable[[Path], None]:
    def damage(directory: Path) -> None:
        (directory / path).write_bytes(b"garbage\n")

    return damage


def _swap_key(directory: Path) -> None:
    # Another valid key of the right type, just not apiserver.crt's.
    shutil.copy(directory / "front-proxy-client.key", directory / "apiserver.key")


def _drop(path: str) -> Callable[[Path], None]:
    return lambda directory: (directory / path).unlink()


BAD_ON_FRESH_DIR = {
    "malformed-host": ["init", "--cluster", "x", "--control-plane", "cp1"],
    "bad-ip": ["init", "--cluster", "x", "--control-plane", "cp1=10.0.0.256"],
    "duplicate-host": ["init", "--cluster", "x", "--control-plane", "cp1=10.0.0.1", "--node", "cp1=10.0.0.2"],
    "bad-cidr": [
        "init",
        "--cluster",
        "x",
        "--control-plane",
        "cp1=10.0.0.1",
        "--service-cidr",
        "10.96.0.1/12",
    ],
    "bad-endpoint": [
        "init",
        "--cluster",
        "x",
        "--control-plane",
        "cp1=10.0.0.1",
        "--apiserver-endpoint",
        "a:b:c:d",
    ],
    "no-state": ["check-expiration"],
}


@pytest.mark.parametrize("argv", BAD_ON_FRESH_DIR.values(), ids=BAD_ON_FRESH_DIR.keys())
def test_bad_input_on_a_fresh_dir_writes_nothing(tmp_path: Path, argv: list[str]) -> None:
    directory = tmp_path / "fresh"
    result = pki(tmp_path, *argv, "--dir", str(directory))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "error:" in result.stderr
    assert not directory.exists()


BAD_ON_EXISTING_DIR: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    "init-mismatched-key": (_swap_key, ["init", *CLUSTER_ARGS], "does not match"),
    "init-unreadable-key": (_garble("etcd/cp1/peer.key"), ["init", *CLUSTER_ARGS], "private key"),
    "init-unreadable-kubeconfig": (_garble("admin.conf"), ["init", *CLUSTER_ARGS], "admin.conf"),
    "init-ca-without-key": (_drop("etcd/ca.key"), ["init", *CLUSTER_ARGS], "not found"),
    "init-new-node-but-bad-key": (
        _swap_key,
        ["init", *CLUSTER_ARGS, "--node", "w9=10.0.0.99"],
        "does not match",
    ),
    "renew-unknown-name": (lambda d: None, ["renew", "etcd"], "unknown certificate"),
    "renew-missing-ca": (_drop("ca.key"), ["renew", "all"], "ca.key not found"),
    "renew-mismatched-key": (_swap_key, ["renew", "all"], "does not match"),
    "check-unreadable-cert": (_garble("apiserver.crt"), ["check-expiration"], "apiserver.crt"),
}


@pytest.mark.parametrize("case", BAD_ON_EXISTING_DIR.values(), ids=BAD_ON_EXISTING_DIR.keys())
def test_bad_input_on_an_existing_dir_changes_nothing(
    certs_dir: Path, case: tuple[Callable[[Path], None], list[str], str]
) -> None:
    damage, argv, message = case
    damage(certs_dir)
    before = snapshot(certs_dir)
    result = pki(certs_dir.parent, *argv, "--dir", str(certs_dir))
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert snapshot(certs_dir) == before


def test_tls_handshake_with_apiserver_and_admin_certs(template: Path, tmp_path: Path) -> None:
    admin = kubeconfig.parse((template / "admin.conf").read_bytes())
    (tmp_path / "admin.crt").write_bytes(admin.cert_pem)
    (tmp_path / "admin.key").write_bytes(admin.key_pem)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(template / "apiserver.crt", template / "apiserver.key")
    server_ctx.load_verify_locations(template / "ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(template / "ca.crt"))
    client_ctx.load_cert_chain(tmp_path / "admin.crt", tmp_path / "admin.key")

    seen: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["client"] = tls.getpeercert()
                tls.sendall(tls.recv(5))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        # The client checks the server's name against the SANs: the endpoint name.
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname="k8s.example.com") as tls,
        ):
            tls.sendall(b"hello")
            assert tls.recv(5) == b"hello"
            server_cert = tls.getpeercert()
        thread.join(timeout=10)
    assert dict(x[0] for x in server_cert["subject"]) == {"commonName": "kube-apiserver"}
    client_subject = dict(x[0] for x in seen["client"]["subject"])  # type: ignore[index]
    assert client_subject == {"organizationName": "kubeadm:cluster-admins", "commonName": "kubernetes-admin"}


def test_real_kubectl_accepts_the_admin_kubeconfig(template: Path) -> None:
    """Go's TLS stack (stricter than OpenSSL's) verifies the apiserver cert and sends admin.conf's."""
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if kubectl is None:
        pytest.skip("kubectl is not installed next to the interpreter")
    seen: list[dict[str, str]] = []

    class Version(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            seen.append(dict(x[0] for x in peer["subject"]))
            body = json.dumps({"major": "1", "minor": "37", "gitVersion": "v1.37.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(template / "apiserver.crt", template / "apiserver.key")
    ctx.load_verify_locations(template / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = http.server.HTTPServer(("127.0.0.1", 0), Version)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        result = subprocess.run(
            [
                kubectl,
                "--kubeconfig",
                str(template / "admin.conf"),
                "--server",
                f"https://127.0.0.1:{server.server_address[1]}",
                "--tls-server-name",
                "kubernetes.default.svc",
                "get",
                "--raw",
                "/version",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        thread.join(timeout=10)
    finally:
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gitVersion"] == "v1.37.0"
    assert seen == [{"organizationName": "kubeadm:cluster-admins", "commonName": "kubernetes-admin"}]
