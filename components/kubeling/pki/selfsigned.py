"""A throwaway CA and serving certificate for a server started without a PKI.

Upstream's apiserver writes a self-signed pair into ``--cert-dir`` when no
``--tls-cert-file`` is given; kubeling does the same, but signs the serving
certificate with a small CA of its own so clients can pin one CA file.  The
certificates are made by :mod:`kubeling.pki.certs`, like the cluster PKI's.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from kubeling.pki import certs


def ensure_serving_cert(cert_dir: Path, hosts: list[str]) -> tuple[Path, Path, Path]:
    """Return (ca.crt, apiserver.crt, apiserver.key) in cert_dir, creating them once."""
    ca_crt, crt, key = cert_dir / "ca.crt", cert_dir / "apiserver.crt", cert_dir / "apiserver.key"
    if ca_crt.exists() and crt.exists() and key.exists():
        return ca_crt, crt, key
    now = certs.utcnow()
    ca_key = certs.generate_key(certs.KeyType.ECDSA)
    ca = certs.new_ca(ca_key, common_name=f"kubeling-ca@{int(now.timestamp())}", days=3650, now=now)
    dns_names: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for host in dict.fromkeys(hosts):
        try:
            ips.append(ipaddress.ip_address(host))
        except ValueError:
            dns_names.append(host)
    request = certs.CertRequest(
        common_name="kube-apiserver",
        usages=frozenset({certs.SERVER_AUTH}),
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ips),
    )
    server_key = certs.generate_key(certs.KeyType.ECDSA)
    server = certs.issue(
        request, public_key=server_key.public_key(), ca_cert=ca, ca_key=ca_key, days=365, now=now
    )
    certs.write_atomic(ca_crt, certs.cert_to_pem(ca), 0o644)
    certs.write_atomic(cert_dir / "ca.key", certs.key_to_pem(ca_key), 0o600)
    certs.write_atomic(crt, certs.cert_to_pem(server), 0o644)
    certs.write_atomic(key, certs.key_to_pem(server_key), 0o600)
    return ca_crt, crt, key


def ensure_client_cert(
    cert_dir: Path, name: str, *, common_name: str, organizations: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """(name.crt, name.key): a client certificate from the CA of :func:`ensure_serving_cert`, made once.

    The all-in-one server uses these for identities that authenticate by
    certificate, as in a kubeadm cluster: the kubelet (``system:node:<host>``
    in ``system:nodes``) and the apiserver's own client for kubelets.  A pair
    whose subject no longer matches is reissued.
    """
    crt, key = cert_dir / f"{name}.crt", cert_dir / f"{name}.key"
    request = certs.CertRequest(
        common_name=common_name, organizations=organizations, usages=frozenset({certs.CLIENT_AUTH})
    )
    if crt.exists() and key.exists() and certs.matches(certs.load_cert(crt.read_bytes()), request):
        return crt, key
    ca = certs.load_cert((cert_dir / "ca.crt").read_bytes())
    ca_key = certs.load_key((cert_dir / "ca.key").read_bytes())
    client_key = certs.generate_key(certs.KeyType.ECDSA)
    client = certs.issue(
        request, public_key=client_key.public_key(), ca_cert=ca, ca_key=ca_key, days=365, now=certs.utcnow()
    )
    certs.write_atomic(key, certs.key_to_pem(client_key), 0o600)
    certs.write_atomic(crt, certs.cert_to_pem(client), 0o644)
    return crt, key


def ensure_front_proxy(cert_dir: Path) -> tuple[Path, Path, Path]:
    """(front-proxy-ca.crt, front-proxy-client.crt, front-proxy-client.key), made once.

    kubeadm's front-proxy pair: a CA of its own (so a front-proxy certificate is
    never mistaken for a user's) and the aggregator's client certificate, CN
    ``front-proxy-client``, which extension apiservers accept as the proxy.
    """
    ca_crt, ca_key_path = cert_dir / "front-proxy-ca.crt", cert_dir / "front-proxy-ca.key"
    crt, key = cert_dir / "front-proxy-client.crt", cert_dir / "front-proxy-client.key"
    now = certs.utcnow()
    if not (ca_crt.exists() and ca_key_path.exists()):
        ca_key = certs.generate_key(certs.KeyType.ECDSA)
        ca = certs.new_ca(ca_key, common_name="front-proxy-ca", days=3650, now=now)
        certs.write_atomic(ca_crt, certs.cert_to_pem(ca), 0o644)
        certs.write_atomic(ca_key_path, certs.key_to_pem(ca_key), 0o600)
        crt.unlink(missing_ok=True)
    request = certs.CertRequest(common_name="front-proxy-client", usages=frozenset({certs.CLIENT_AUTH}))
    if crt.exists() and key.exists() and certs.matches(certs.load_cert(crt.read_bytes()), request):
        return ca_crt, crt, key
    ca = certs.load_cert(ca_crt.read_bytes())
    ca_key = certs.load_key(ca_key_path.read_bytes())
    client_key = certs.generate_key(certs.KeyType.ECDSA)
    client = certs.issue(
        request, public_key=client_key.public_key(), ca_cert=ca, ca_key=ca_key, days=365, now=now
    )
    certs.write_atomic(key, certs.key_to_pem(client_key), 0o600)
    certs.write_atomic(crt, certs.cert_to_pem(client), 0o644)
    return ca_crt, crt, key
