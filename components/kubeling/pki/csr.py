"""Certificate signing requests: build one (kubelet), judge one and sign it (controller-manager).

Pure functions over ``cryptography`` objects, shared by the csrsigning and
csrapproving controllers and the kubelet's client-certificate rotation.
Usages are the certificates.k8s.io strings (``digital signature``,
``key encipherment``, ``client auth``, ``server auth``); what each built-in
signer accepts is upstream's:

- ``kubernetes.io/kube-apiserver-client``: client auth, optionally digital
  signature and key encipherment;
- ``kubernetes.io/kube-apiserver-client-kubelet``: additionally
  ``O=system:nodes``, ``CN=system:node:<name>`` and no SANs at all;
- ``kubernetes.io/kubelet-serving``: server auth (+ the two key usages),
  ``O=system:nodes``, ``CN=system:node:<name>``, at least one DNS or IP SAN
  and no e-mail or URI SANs.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeling.pki.certs import BACKDATE, PrivateKey

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
SIGNERS = (KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING)

DIGITAL_SIGNATURE = "digital signature"
KEY_ENCIPHERMENT = "key encipherment"
CLIENT_AUTH = "client auth"
SERVER_AUTH = "server auth"
NODE_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"

_KEY_USAGES = {DIGITAL_SIGNATURE, KEY_ENCIPHERMENT}
_EKUS = {CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH, SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH}


def build_request(key: PrivateKey, *, common_name: str, organizations: tuple[str, ...] = ()) -> bytes:
    """A PEM CSR for key with subject O=..., CN=common_name and no extensions."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def load_request(pem: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR; ValueError when it does not parse or its signature is wrong."""
    csr = x509.load_pem_x509_csr(pem)
    if not csr.is_signature_valid:
        raise ValueError("the request's signature does not verify")
    return csr


@dataclass(frozen=True)
class Subject:
    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    uris: tuple[str, ...]


def subject_of(csr: x509.CertificateSigningRequest) -> Subject:
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    return Subject(
        common_name=str(names[0].value) if names else "",
        organizations=tuple(str(o.value) for o in orgs),
        dns_names=tuple(san.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
        emails=tuple(san.get_values_for_type(x509.RFC822Name)),
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)),
    )


def _node_subject_problem(subject: Subject) -> str | None:
    if subject.organizations != (NODE_GROUP,):
        return f"subject organization must be exactly [{NODE_GROUP}]"
    if not subject.common_name.startswith(NODE_PREFIX) or subject.common_name == NODE_PREFIX:
        return f"subject common name must begin with {NODE_PREFIX!r}"
    return None


def _usage_problem(usages: list[str], required: str) -> str | None:
    allowed = _KEY_USAGES | {required}
    extra = sorted(set(usages) - allowed)
    if extra:
        return f"usages not allowed: {', '.join(extra)}"
    if required not in usages:
        return f"{required!r} usage is required"
    return None


def validation_problem(signer: str, csr: x509.CertificateSigningRequest, usages: list[str]) -> str | None:
    """Why ``signer`` must refuse this request, or None when it may sign it."""
    subject = subject_of(csr)
    if signer == KUBE_APISERVER_CLIENT:
        return _usage_problem(usages, CLIENT_AUTH)
    if signer == KUBE_APISERVER_CLIENT_KUBELET:
        if problem := _usage_problem(usages, CLIENT_AUTH) or _node_subject_problem(subject):
            return problem
        if subject.dns_names or subject.ip_addresses or subject.emails or subject.uris:
            return "no subject alternative names are allowed"
        return None
    if signer == KUBELET_SERVING:
        if problem := _usage_problem(usages, SERVER_AUTH) or _node_subject_problem(subject):
            return problem
        if subject.emails or subject.uris:
            return "e-mail and URI subject alternative names are not allowed"
        if not (subject.dns_names or subject.ip_addresses):
            return "at least one DNS or IP subject alternative name is required"
        return None
    return f"unknown signer {signer!r}"


def is_node_client_request(csr: x509.CertificateSigningRequest, usages: list[str]) -> bool:
    return validation_problem(KUBE_APISERVER_CLIENT_KUBELET, csr, usages) is None


def sign(
    csr: x509.CertificateSigningRequest,
    *,
    usages: list[str],
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    duration: datetime.timedelta,
    now: datetime.datetime,
) -> x509.Certificate:
    """Issue the requested certificate: the request's subject and SANs, the usages asked for,
    valid from ``now`` minus the clock-skew allowance for ``duration`` (never past the CA's end)."""
    subject = subject_of(csr)
    not_after = min(now + duration, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=DIGITAL_SIGNATURE in usages,
                content_commitment=False,
                key_encipherment=KEY_ENCIPHERMENT in usages,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    ekus = [_EKUS[u] for u in sorted(set(usages) & _EKUS.keys())]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in subject.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in subject.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())
