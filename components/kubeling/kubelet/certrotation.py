"""Kubelet client-certificate rotation (``rotateCertificates: true`` / ``--rotate-certificates``).

As upstream's certificate manager: the kubelet watches its own client
certificate and, at a jittered 70-90 % of its lifetime, makes a new key,
asks for a certificate through a ``certificates.k8s.io/v1``
CertificateSigningRequest (signer ``kubernetes.io/kube-apiserver-client-kubelet``,
``O=system:nodes``, ``CN=system:node:<node>``) with the identity it still
has, waits until the controller-manager approved and signed it, stores
``<root-dir>/pki/kubelet-client-<timestamp>.pem`` (certificate + key, 0600)
with ``kubelet-client-current.pem`` pointing at it, and switches the API
client over without a restart (its connections are re-opened with the new
certificate).

On start, a stored current pair that is valid and outlives the kubeconfig's
certificate is used instead of it, so a restarted kubelet keeps its rotated
identity. A failed request is retried with backoff (1 s doubling to 5 min);
the old certificate stays in use meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import os
import random
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from kubeling.api.resources import Registry
from kubeling.client.rest import RESTClient
from kubeling.pki import csr as csrs
from kubeling.pki.certs import (
    KeyType,
    cert_to_pem,
    generate_key,
    key_to_pem,
    load_cert,
    load_key,
    utcnow,
    write_atomic,
)

log = logging.getLogger(__name__)

CURRENT = "kubelet-client-current.pem"
CSRS = Registry().get("certificates.k8s.io", "v1", "certificatesigningrequests")
JITTER = (0.7, 0.9)
BACKOFF_START, BACKOFF_MAX = 1.0, 300.0


def rotation_deadline(cert: x509.Certificate, rng: random.Random) -> datetime.datetime:
    """When to renew: a random point between 70 % and 90 % of the certificate's lifetime."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * rng.uniform(*JITTER)


def split_pem(data: bytes) -> tuple[bytes, bytes]:
    """A combined file's (certificate PEM, key PEM); ValueError when either is missing."""
    marker = b"-----BEGIN "
    blocks = [marker + part for part in data.split(marker)[1:]]
    certs = b"".join(b for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----"))
    keys = b"".join(b for b in blocks if b"PRIVATE KEY-----" in b.split(b"\n", 1)[0])
    if not certs or not keys:
        raise ValueError("want a certificate and a private key")
    return certs, keys


class RotationError(Exception):
    pass


class ClientCertificateManager:
    def __init__(
        self,
        client: RESTClient,
        *,
        node_name: str,
        cert_dir: Path,
        key_type: KeyType = KeyType.ECDSA,
        rng: random.Random | None = None,
        now: Callable[[], datetime.datetime] = utcnow,
        poll_interval: float = 1.0,
        wait_timeout: float = 900.0,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.cert_dir = cert_dir
        self.key_type = key_type
        self.rng = rng or random.Random()
        self.now = now
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout  # upstream waits up to 15 minutes for a signed certificate
        self.rotations = 0

    # -- the certificate in use ----------------------------------------------------------------

    def current(self) -> x509.Certificate:
        config = self.client.config
        data = config.cert_data or (Path(config.cert_file).read_bytes() if config.cert_file else b"")
        if not data:
            raise RotationError("the kubeconfig has no client certificate to rotate")
        return load_cert(data)

    async def load_stored(self) -> bool:
        """Switch to ``kubelet-client-current.pem`` when it is valid and outlives what is in use."""
        path = self.cert_dir / CURRENT
        try:
            cert_pem, key_pem = split_pem(path.read_bytes())
            stored, key = load_cert(cert_pem), load_key(key_pem)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return False
        if stored.public_key() != key.public_key() or stored.not_valid_after_utc <= self.now():
            return False
        try:
            in_use = self.current()
        except (OSError, ValueError, RotationError):
            in_use = None
        if in_use is not None and stored.not_valid_after_utc <= in_use.not_valid_after_utc:
            return False
        await self.client.use_client_certificate(cert_pem, key_pem)
        log.info("using the rotated client certificate %s (expires %s)", path, stored.not_valid_after_utc)
        return True

    # -- rotating ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Rotate at every deadline until cancelled."""
        await self.load_stored()
        failures = 0
        while True:
            deadline = rotation_deadline(self.current(), self.rng)
            wait = (deadline - self.now()).total_seconds()
            if wait > 0:
                log.info("client certificate rotation in %.0fs (at %s)", wait, deadline)
                await asyncio.sleep(wait)
            try:
                await self.rotate()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(BACKOFF_START * 2**failures, BACKOFF_MAX)
                failures += 1
                log.warning("client certificate rotation failed (retrying in %.0fs): %s", delay, exc)
                await asyncio.sleep(delay)

    async def rotate(self) -> x509.Certificate:
        """One rotation: new key, CSR, wait for the certificate, store it, switch the client."""
        key = generate_key(self.key_type)
        request = csrs.build_request(
            key, common_name=f"{csrs.NODE_PREFIX}{self.node_name}", organizations=(csrs.NODE_GROUP,)
        )
        usages = [csrs.DIGITAL_SIGNATURE, csrs.CLIENT_AUTH]
        if self.key_type is KeyType.RSA:
            usages.insert(1, csrs.KEY_ENCIPHERMENT)
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "csr-"},
            "spec": {
                "request": base64.b64encode(request).decode(),
                "signerName": csrs.KUBE_APISERVER_CLIENT_KUBELET,
                "usages": usages,
            },
        }
        created = await self.client.create(CSRS, body)
        name = created["metadata"]["name"]
        log.info("requested a new client certificate: CertificateSigningRequest %s", name)
        cert_pem = await self._wait_for_certificate(name)
        cert = load_cert(cert_pem)
        if cert.public_key() != key.public_key():
            raise RotationError(f"{name}: the issued certificate is not for the requested key")
        key_pem = key_to_pem(key)
        self._store(cert, cert_pem, key_pem)
        await self.client.use_client_certificate(cert_pem, key_pem)
        self.rotations += 1
        log.info("rotated the client certificate (%s, expires %s)", name, cert.not_valid_after_utc)
        return cert

    async def _wait_for_certificate(self, name: str) -> bytes:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.wait_timeout
        while loop.time() < give_up:
            csr = await self.client.get(CSRS, name=name)
            status = csr.get("status") or {}
            for condition in status.get("conditions") or []:
                if (
                    condition.get("type") in ("Denied", "Failed")
                    and condition.get("status", "True") == "True"
                ):
                    raise RotationError(f"{name} {condition['type'].lower()}: {condition.get('message', '')}")
            if status.get("certificate"):
                return base64.b64decode(status["certificate"])
            await asyncio.sleep(self.poll_interval)
        raise RotationError(f"{name}: no certificate within {self.wait_timeout:.0f}s")

    def _store(self, cert: x509.Certificate, cert_pem: bytes, key_pem: bytes) -> None:
        """``kubelet-client-<time>.pem`` and an atomic swap of the ``current`` link to it."""
        self.cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = cert.not_valid_before_utc.strftime("%Y-%m-%d-%H-%M-%S")
        target = self.cert_dir / f"kubelet-client-{stamp}.pem"
        write_atomic(target, cert_to_pem(cert) + key_pem, 0o600)
        link = self.cert_dir / f".{CURRENT}.tmp"
        link.unlink(missing_ok=True)
        os.symlink(target.name, link)
        os.replace(link, self.cert_dir / CURRENT)
