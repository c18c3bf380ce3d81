import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeling.apiserver.clientcerts import CertificateRejected, defer_verification, verify_client_certificate

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


def make_ca(name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - datetime.timedelta(days=10))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def make_leaf(
    ca, *, cn="alice", orgs=("devs",), days=(-1, 30), usage=ExtendedKeyUsageOID.CLIENT_AUTH
) -> bytes:
    ca_key, ca_cert = ca
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    if cn:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name(names)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(2)
        .not_valid_before(NOW + datetime.timedelta(days=days[0]))
        .not_valid_after(NOW + datetime.timedelta(days=days[1]))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


CA = make_ca("cluster-ca")
OTHER = make_ca("cluster-ca")  # same name, different key: only the signature tells them apart


def test_valid_certificate_yields_user_and_groups():
    assert verify_client_certificate(make_leaf(CA, orgs=("a", "b")), [CA[1]], NOW) == ("alice", ("a", "b"))


@pytest.mark.parametrize(
    ("leaf", "why"),
    [
        (make_leaf(CA, days=(-30, -1)), "expired"),
        (make_leaf(CA, days=(1, 30)), "not yet valid"),
        (make_leaf(OTHER), "unknown authority"),
        (make_leaf(CA, usage=ExtendedKeyUsageOID.SERVER_AUTH), "client authentication"),
        (make_leaf(CA, cn=""), "no common name"),
        (b"not a certificate", "unreadable"),
    ],
    ids=["expired", "not-yet-valid", "foreign-ca-same-name", "server-only-usage", "no-cn", "garbage"],
)
def test_rejections(leaf, why):
    with pytest.raises(CertificateRejected, match=why):
        verify_client_certificate(leaf, [CA[1]], NOW)


def test_verification_can_be_deferred_on_this_openssl():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert defer_verification(context) is True
    assert context.verify_mode == ssl.CERT_OPTIONAL
