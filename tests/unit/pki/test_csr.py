"""What each built-in signer accepts, and what csrsigning issues."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeling.controllers.certificates import signing_duration
from kubeling.pki import csr as csrs
from kubeling.pki.certs import KeyType, generate_key, is_signed_by, new_ca

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
KEY = generate_key(KeyType.ECDSA)


def make_request(
    cn: str, orgs: tuple[str, ...] = (), dns: tuple[str, ...] = ()
) -> x509.CertificateSigningRequest:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return builder.sign(KEY, hashes.SHA256())


NODE = ("system:node:n1", ("system:nodes",))
CLIENT, SERVING = ["digital signature", "client auth"], ["digital signature", "server auth"]


@pytest.mark.parametrize(
    ("signer", "cn_orgs", "dns", "usages", "problem"),
    [
        (csrs.KUBE_APISERVER_CLIENT, ("jane", ()), (), CLIENT, None),
        (csrs.KUBE_APISERVER_CLIENT, ("jane", ()), (), SERVING, "usages not allowed: server auth"),
        (csrs.KUBE_APISERVER_CLIENT_KUBELET, NODE, (), CLIENT, None),
        (csrs.KUBE_APISERVER_CLIENT_KUBELET, ("jane", ("system:nodes",)), (), CLIENT, "must begin with"),
        (csrs.KUBE_APISERVER_CLIENT_KUBELET, ("system:node:n1", ()), (), CLIENT, "organization"),
        (csrs.KUBE_APISERVER_CLIENT_KUBELET, NODE, ("n1",), CLIENT, "no subject alternative names"),
        (csrs.KUBELET_SERVING, NODE, ("n1",), SERVING, None),
        (csrs.KUBELET_SERVING, NODE, (), SERVING, "at least one DNS or IP"),
        (csrs.KUBELET_SERVING, NODE, ("n1",), CLIENT, "usages not allowed: client auth"),
        ("example.com/other", NODE, (), CLIENT, "unknown signer"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_validation(signer: str, cn_orgs: tuple, dns: tuple, usages: list[str], problem: str | None) -> None:
    found = csrs.validation_problem(signer, make_request(cn_orgs[0], cn_orgs[1], dns), usages)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_sign_copies_subject_and_sans_and_caps_at_the_ca() -> None:
    ca_key = generate_key(KeyType.ECDSA)
    ca = new_ca(ca_key, common_name="ca", days=1, now=NOW)
    request = make_request("system:node:n1", ("system:nodes",), ("n1",))
    cert = csrs.sign(
        request, usages=SERVING, ca_cert=ca, ca_key=ca_key, duration=datetime.timedelta(days=365), now=NOW
    )
    assert is_signed_by(cert, ca)
    assert cert.subject == request.subject
    assert cert.not_valid_after_utc == ca.not_valid_after_utc
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=5)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["n1"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [({}, 365 * 86400), ({"expirationSeconds": 3600}, 3600), ({"expirationSeconds": 10**9}, 365 * 86400)],
)
def test_signing_duration(spec: dict, expected: int) -> None:
    assert signing_duration(spec, datetime.timedelta(days=365)).total_seconds() == expected
