"""Certificates as a host holds them: expiry of a PEM file or of a kubeconfig's client cert.

Pure functions over bytes read from the host, so they are tested without one.
A certificate fails when it is unreadable, not yet valid, or expires within
the warning window (30 days by default, as ``kubeadm certs check-expiration``
warns); a private key fails when group or others may read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from kubeling.pki import kubeconfig

DEFAULT_WARN_DAYS = 30


class CertificateError(ValueError):
    """The bytes are not the certificate they should be."""


@dataclass(frozen=True)
class Validity:
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime


def parse_certificate(pem: bytes) -> Validity:
    """The first certificate of a PEM file."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate ({exc})") from None
    return Validity(cert.subject.rfc4514_string(), cert.not_valid_before_utc, cert.not_valid_after_utc)


def kubeconfig_certificate(text: bytes) -> bytes:
    """The client certificate embedded in the current context's user (``client-certificate-data``)."""
    try:
        return kubeconfig.parse(text).cert_pem
    except ValueError as exc:
        raise CertificateError(f"not a kubeconfig with an embedded client certificate: {exc}") from None


def expiry_problem(validity: Validity, *, now: dt.datetime, warn_days: int = DEFAULT_WARN_DAYS) -> str | None:
    """Why the certificate is not fine at ``now``, or None."""
    if now < validity.not_before:
        return f"not valid before {validity.not_before:%Y-%m-%d %H:%M} UTC"
    if now >= validity.not_after:
        return f"expired on {validity.not_after:%Y-%m-%d}"
    left = validity.not_after - now
    if left < dt.timedelta(days=warn_days):
        return f"expires on {validity.not_after:%Y-%m-%d}, in {left.days} days (< {warn_days})"
    return None


def describe_expiry(validity: Validity, *, now: dt.datetime) -> str:
    return f"expires {validity.not_after:%Y-%m-%d}, in {(validity.not_after - now).days} days"


def key_mode_problem(mode: int) -> str | None:
    """A private key must not be readable by group or others (kubeadm writes 0600)."""
    if mode & 0o077:
        return f"mode {mode:04o}, want 0600"
    return None
