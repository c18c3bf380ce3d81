"""Keys and X.509 certificates: generate, issue, load, save, compare.

Everything here is a pure function of its inputs (plus the clock passed in),
so the planning code in ``commands`` can build a whole PKI in memory and
write it only once every check passed.  The certificates follow what
kubeadm issues:

- CAs are self-signed, ``CA:TRUE`` (critical), key usages digitalSignature,
  keyEncipherment and keyCertSign (critical), with a subject key identifier.
- Leaves are ``CA:FALSE`` (critical), digitalSignature (+ keyEncipherment for
  RSA keys, which TLS key transport needs), the serverAuth / clientAuth
  extended key usages asked for, SANs, and an authority key identifier.
- A leaf starts five minutes in the past (clock skew between hosts) and never
  outlives the CA that signs it.

Keys are written in the traditional OpenSSL PEM encodings (``EC PRIVATE KEY``,
``RSA PRIVATE KEY``) as kubeadm does; any PEM private key is accepted on load.
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Clock skew allowance between the machine that issues and the hosts that verify.
BACKDATE = datetime.timedelta(minutes=5)

SERVER_AUTH = "serverAuth"
CLIENT_AUTH = "clientAuth"
_EKU_OIDS = {SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH, CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH}
_EKU_NAMES = {oid: name for name, oid in _EKU_OIDS.items()}


class KeyType(enum.StrEnum):
    ECDSA = "ecdsa"
    RSA = "rsa"


@dataclass(frozen=True)
class CertRequest:
    """What a leaf certificate says about its holder: subject, SANs and usages."""

    common_name: str
    organizations: tuple[str, ...] = ()
    usages: frozenset[str] = frozenset()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()

    def normalized(self) -> tuple[str, frozenset[str], frozenset[str], frozenset[str], frozenset[IPAddress]]:
        """The parts that matter for "is this the same certificate", order-free."""
        return (
            self.common_name,
            frozenset(self.organizations),
            self.usages,
            frozenset(self.dns_names),
            frozenset(self.ip_addresses),
        )


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_to_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(data: bytes) -> PrivateKey:
    """Parse an unencrypted PEM private key; ValueError if it is not an EC or RSA key."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a readable unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def load_cert(data: bytes) -> x509.Certificate:
    """Parse the first PEM certificate in data; ValueError when there is none."""
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"not a readable PEM certificate ({exc})") from None


def key_matches(cert: x509.Certificate, key: PrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def not_after(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_after_utc


def is_expired(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_after_utc <= now


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ca's name is cert's issuer and ca's key made cert's signature."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    # kubeadm puts O before CN, the usual X.509 order.
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _signature_hash() -> hashes.HashAlgorithm:
    return hashes.SHA256()


def new_ca(key: PrivateKey, *, common_name: str, days: int, now: datetime.datetime) -> x509.Certificate:
    """A self-signed CA certificate for key, valid for days from now."""
    name = _name(common_name)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, _signature_hash())
    )


def issue(
    request: CertRequest,
    *,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    days: int,
    now: datetime.datetime,
) -> x509.Certificate:
    """Sign a leaf certificate for public_key; it never outlives the CA."""
    expires = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(request.common_name, request.organizations))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(expires)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
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
    if request.usages:
        # Sorted so that a reissue of the same request lists the usages the same way.
        oids = [_EKU_OIDS[usage] for usage in sorted(request.usages)]
        builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in request.dns_names]
    sans += [x509.IPAddress(ip) for ip in request.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, _signature_hash())


def request_of(cert: x509.Certificate) -> CertRequest:
    """Read back the subject, SANs and usages of a certificate (for renewal and comparison)."""
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    usages: frozenset[str] = frozenset()
    dns_names: tuple[str, ...] = ()
    ips: tuple[IPAddress, ...] = ()
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        usages = frozenset(_EKU_NAMES[oid] for oid in eku if oid in _EKU_NAMES)
    except x509.ExtensionNotFound:
        pass
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(
            ip
            for ip in san.get_values_for_type(x509.IPAddress)
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        )
    except x509.ExtensionNotFound:
        pass
    return CertRequest(
        common_name=str(common_names[0].value) if common_names else "",
        organizations=tuple(str(org.value) for org in orgs),
        usages=usages,
        dns_names=dns_names,
        ip_addresses=ips,
    )


def matches(cert: x509.Certificate, request: CertRequest) -> bool:
    return request_of(cert).normalized() == request.normalized()


def common_name_of(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace path with data in one rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
