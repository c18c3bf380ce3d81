"""Client certificates judged by the authenticator, not by the TLS handshake.

Upstream's apiserver requests a client certificate without letting the
handshake verify it, then verifies the chain itself, so a certificate from an
unknown CA (or an expired one) gets an HTTP 401 instead of a dropped
connection.  Python's ``ssl`` module has no such mode: with CERT_OPTIONAL,
OpenSSL aborts the handshake on any verification failure.

So we install an always-accept OpenSSL verify callback on the context's
``SSL_CTX`` through ctypes, and verify the certificate ourselves with
``cryptography`` (:func:`verify_client_certificate`).  The ``SSL_CTX`` pointer
is read from CPython's context object and checked (verify mode and options
must read back as Python set them) before anything is installed; if any check
fails the server keeps handshake-level verification and says so in its log.
"""

from __future__ import annotations

import ctypes
import datetime
import logging
import ssl

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
# Kept at module level: OpenSSL holds a raw pointer to it for the process's life.
_accept_any = _VERIFY_CALLBACK(lambda _preverify_ok, _store: 1)
_SSL_VERIFY_PEER = 0x01


def _libssl() -> ctypes.CDLL | None:
    for name in ("libssl.so.3", "libssl.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def defer_verification(context: ssl.SSLContext) -> bool:
    """Request client certificates but accept any in the handshake; True when installed."""
    context.verify_mode = ssl.CERT_OPTIONAL
    lib = _libssl()
    if lib is None or not ssl.OPENSSL_VERSION.startswith("OpenSSL 3"):
        return False
    try:
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
        # CPython's PySSLContext starts with PyObject_HEAD, then the SSL_CTX pointer.
        pointer = ctypes.c_void_p.from_address(id(context) + 2 * ctypes.sizeof(ctypes.c_ssize_t)).value
        if not pointer:
            return False
        if lib.SSL_CTX_get_verify_mode(pointer) != _SSL_VERIFY_PEER:
            return False
        if lib.SSL_CTX_get_options(pointer) != int(context.options):
            return False
        lib.SSL_CTX_set_verify(pointer, _SSL_VERIFY_PEER, _accept_any)
    except (AttributeError, OSError, ValueError):
        return False
    return True


def load_client_cas(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificates(handle.read())


class CertificateRejected(Exception):
    pass


def verify_client_certificate(
    der: bytes, cas: list[x509.Certificate], now: datetime.datetime | None = None
) -> tuple[str, tuple[str, ...]]:
    """(user, groups) from a client certificate signed by one of ``cas``; CertificateRejected otherwise."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateRejected("unreadable client certificate") from None
    now = now or datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateRejected("client certificate has expired or is not yet valid")
    for ca in cas:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            raise CertificateRejected("client CA has expired")
        break
    else:
        raise CertificateRejected("client certificate signed by unknown authority")
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise CertificateRejected("client certificate may not be used for client authentication")
    except x509.ExtensionNotFound:
        pass
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise CertificateRejected("client certificate has no common name")
    groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return str(names[0].value), groups
