"""TLS for the HTTPS port: one server context whose SNI callback picks a certificate per name.

The routing table maps hosts (exact or ``*.example.com``) to the
``kubernetes.io/tls`` Secrets the Ingresses name.  A context per Secret is
built once per Secret resourceVersion; a name with no certificate, or whose
Secret is missing or unusable, gets the default certificate: the Secret of
``--default-ssl-certificate`` if given, else a self-signed pair made at start
with ingress-nginx's subject ("Kubernetes Ingress Controller Fake Certificate").
The ``ssl`` module loads key pairs only from files, so each pair passes through
a private temporary file that is removed at once.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeling.ingress.routing import TLSRef
from kubeling.pki import certs

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FAKE_SUBJECT = "Kubernetes Ingress Controller Fake Certificate"
TLS_SECRET_TYPE = "kubernetes.io/tls"


def fake_certificate() -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of a throwaway serving certificate for ``ingress.local``."""
    now = certs.utcnow()
    ca_key = certs.generate_key(certs.KeyType.ECDSA)
    ca = certs.new_ca(ca_key, common_name="kubeling-ingress-fake-ca", days=3650, now=now)
    key = certs.generate_key(certs.KeyType.ECDSA)
    leaf = certs.issue(
        certs.CertRequest(FAKE_SUBJECT, usages=frozenset({certs.SERVER_AUTH}), dns_names=("ingress.local",)),
        public_key=key.public_key(),
        ca_cert=ca,
        ca_key=ca_key,
        days=365,
        now=now,
    )
    return certs.cert_to_pem(leaf), certs.key_to_pem(key)


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server context for one PEM pair (ValueError when the pair is unusable)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="kubeling-ingress-tls-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_path.write_bytes(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as key_file:
            key_file.write(key_pem)
        try:
            context.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"unusable certificate or key: {exc}") from None
    return context


def pair_of(secret: Obj) -> tuple[bytes, bytes]:
    """The (tls.crt, tls.key) of a Secret; ValueError naming what is wrong."""
    data = secret.get("data") or {}
    if not data.get("tls.crt") or not data.get("tls.key"):
        raise ValueError("has no tls.crt and tls.key")
    try:
        return base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"])
    except (binascii.Error, ValueError):
        raise ValueError("tls.crt or tls.key is not base64") from None


class CertificateStore:
    """The contexts the HTTPS listener hands out by SNI name."""

    def __init__(self, *, secret: Callable[[str, str], Obj | None], default: TLSRef | None = None) -> None:
        self._secret = secret
        self._default_ref = default
        fake = fake_certificate()
        self._fake = server_context(*fake)
        self._contexts: dict[tuple[str, str], tuple[str, ssl.SSLContext | None]] = {}
        self._route: Callable[[str], TLSRef | None] = lambda name: None
        # The listener's own context only runs the callback, which swaps in the chosen one.
        self.listener_context = server_context(*fake)
        self.listener_context.sni_callback = self._on_sni

    def use(self, route: Callable[[str], TLSRef | None]) -> None:
        """Switch to a new host → Secret mapping (called when a snapshot is swapped in)."""
        self._route = route

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        ref = self._route(server_name) if server_name else None
        context = self._context_of(ref) if ref is not None else None
        if context is None and self._default_ref is not None:
            context = self._context_of(self._default_ref)
        return context or self._fake

    def _context_of(self, ref: TLSRef) -> ssl.SSLContext | None:
        secret = self._secret(ref.namespace, ref.secret)
        if secret is None:
            return None
        version = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        cached = self._contexts.get((ref.namespace, ref.secret))
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            context: ssl.SSLContext | None = server_context(*pair_of(secret))
        except ValueError as exc:
            log.warning(
                "TLS Secret %s/%s %s: serving the default certificate", ref.namespace, ref.secret, exc
            )
            context = None
        self._contexts[(ref.namespace, ref.secret)] = (version, context)
        return context

    def forget(self, namespace: str, name: str) -> None:
        self._contexts.pop((namespace, name), None)

    def _on_sni(self, ssl_object: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        ssl_object.context = self.context_for(server_name)
