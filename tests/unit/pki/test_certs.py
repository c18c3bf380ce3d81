"""Keys and certificates: what new_ca and issue put in them, and how they are read back."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeling.pki import certs
from kubeling.pki.certs import CLIENT_AUTH, SERVER_AUTH, CertRequest, KeyType

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, certs.PrivateKey]:
    key = certs.generate_key(KeyType.ECDSA)
    return certs.new_ca(key, common_name="kubernetes", days=3650, now=NOW), key


def _issue(
    ca: tuple[x509.Certificate, certs.PrivateKey], request: CertRequest, **kw: object
) -> x509.Certificate:
    key = kw.pop("key", None) or certs.generate_key(KeyType.ECDSA)
    options = {"days": 365, "now": NOW, **kw}
    return certs.issue(request, public_key=key.public_key(), ca_cert=ca[0], ca_key=ca[1], **options)


@pytest.mark.parametrize(
    ("key_type", "expected"),
    [(KeyType.ECDSA, ec.EllipticCurvePrivateKey), (KeyType.RSA, rsa.RSAPrivateKey)],
    ids=["ecdsa", "rsa"],
)
def test_generate_key_types_and_pem_round_trip(key_type: KeyType, expected: type) -> None:
    key = certs.generate_key(key_type)
    assert isinstance(key, expected)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert key.curve.name == "secp256r1"
    else:
        assert key.key_size == 2048
    pem = certs.key_to_pem(key)
    # kubeadm's encodings: SEC1 for EC, PKCS#1 for RSA.
    assert pem.startswith(
        b"-----BEGIN EC PRIVATE KEY" if key_type is KeyType.ECDSA else b"-----BEGIN RSA PRIVATE KEY"
    )
    assert certs.load_key(pem).public_key() == key.public_key()


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"],
    ids=["empty", "garbage", "bad-base64-body"],
)
def test_load_key_rejects_unreadable(data: bytes) -> None:
    with pytest.raises(ValueError, match="private key"):
        certs.load_key(data)


def test_load_cert_rejects_unreadable() -> None:
    with pytest.raises(ValueError, match="certificate"):
        certs.load_cert(b"not a cert")


def test_new_ca_is_a_self_signed_ca(ca: tuple[x509.Certificate, certs.PrivateKey]) -> None:
    cert, key = ca
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.digital_signature, usage.key_encipherment) == (True, True, True)
    assert certs.is_ca(cert)
    assert certs.is_signed_by(cert, cert)
    assert certs.key_matches(cert, key)
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(days=3650)
    assert cert.not_valid_before_utc == NOW - certs.BACKDATE


@pytest.mark.parametrize(
    ("request_", "ekus"),
    [
        (CertRequest("kube-apiserver", (), frozenset({SERVER_AUTH})), [ExtendedKeyUsageOID.SERVER_AUTH]),
        (CertRequest("admin", ("g",), frozenset({CLIENT_AUTH})), [ExtendedKeyUsageOID.CLIENT_AUTH]),
        (
            CertRequest("cp1", (), frozenset({SERVER_AUTH, CLIENT_AUTH})),
            [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        ),
    ],
    ids=["server", "client", "both"],
)
def test_issue_sets_usages(
    ca: tuple[x509.Certificate, certs.PrivateKey], request_: CertRequest, ekus: list[x509.ObjectIdentifier]
) -> None:
    cert = _issue(ca, request_)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == ekus
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert not certs.is_ca(cert)
    assert certs.is_signed_by(cert, ca[0])


def test_issue_reads_back_as_the_same_request(ca: tuple[x509.Certificate, certs.PrivateKey]) -> None:
    request = CertRequest(
        "system:node:w1",
        ("system:nodes",),
        frozenset({SERVER_AUTH}),
        ("w1", "w1.example"),
        (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("fd00::5")),
    )
    cert = _issue(ca, request)
    assert certs.request_of(cert) == request
    assert certs.matches(cert, request)
    assert not certs.matches(cert, CertRequest("system:node:w1", ("system:nodes",), frozenset({SERVER_AUTH})))
    assert cert.subject.rfc4514_string() == "CN=system:node:w1,O=system:nodes"


@pytest.mark.parametrize(
    ("key_type", "key_encipherment"), [(KeyType.ECDSA, False), (KeyType.RSA, True)], ids=["ecdsa", "rsa"]
)
def test_key_encipherment_only_for_rsa(
    ca: tuple[x509.Certificate, certs.PrivateKey], key_type: KeyType, key_encipherment: bool
) -> None:
    cert = _issue(ca, CertRequest("x"), key=certs.generate_key(key_type))
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment is key_encipherment


@pytest.mark.parametrize(
    ("days", "expected"),
    [(365, NOW + datetime.timedelta(days=365)), (99999, NOW + datetime.timedelta(days=3650))],
    ids=["one-year", "capped-at-ca"],
)
def test_leaf_never_outlives_its_ca(
    ca: tuple[x509.Certificate, certs.PrivateKey], days: int, expected: datetime.datetime
) -> None:
    assert _issue(ca, CertRequest("x"), days=days).not_valid_after_utc == expected


def test_signed_by_another_ca_is_detected(ca: tuple[x509.Certificate, certs.PrivateKey]) -> None:
    other_key = certs.generate_key(KeyType.ECDSA)
    # Same subject name, different key: only the signature tells them apart.
    other = certs.new_ca(other_key, common_name="kubernetes", days=10, now=NOW)
    cert = _issue(ca, CertRequest("x"))
    assert certs.is_signed_by(cert, ca[0])
    assert not certs.is_signed_by(cert, other)


@pytest.mark.parametrize(
    ("moment", "expired"),
    [
        (NOW, False),
        (NOW + datetime.timedelta(days=365) - datetime.timedelta(seconds=1), False),
        (NOW + datetime.timedelta(days=365), True),
    ],
    ids=["fresh", "last-second", "at-not-after"],
)
def test_is_expired(
    ca: tuple[x509.Certificate, certs.PrivateKey], moment: datetime.datetime, expired: bool
) -> None:
    assert certs.is_expired(_issue(ca, CertRequest("x")), moment) is expired


@pytest.mark.parametrize("mode", [0o600, 0o644], ids=["secret", "public"])
def test_write_atomic_sets_mode_and_replaces(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "sub" / "file"
    certs.write_atomic(target, b"one", mode)
    certs.write_atomic(target, b"two", mode)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert [p.name for p in target.parent.iterdir()] == ["file"]  # no temp file left behind
