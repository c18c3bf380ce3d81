"""``kubeling pki init | check-expiration | renew``: plan in memory, then write.

Every command first reads the PKI directory and builds a ``Plan`` — the full
content and mode of every file it should hold — in memory: keys generated,
certificates signed, kubeconfigs rendered.  Any bad input raises ``PkiError``
during planning, so a failed command writes nothing.  ``Plan.apply`` then
writes only the files whose bytes differ, each through an atomic rename, and
fixes modes (keys and kubeconfigs 0600).  That is what makes ``init``
idempotent: a valid certificate is carried into the plan with its bytes
from disk, so a second run finds every file already equal.

A leaf is reissued by init when it is missing, expired, not signed by the CA
on disk, or no longer says what the layout asks (subject, SANs, usages) — a
new control-plane host or endpoint reissues only the apiserver certificate.
An existing key is kept on reissue (as kubeadm's renew does); only a missing
key is generated.  A key that does not parse or does not match its
certificate is an error, never silently replaced.  An expired CA is
re-signed with its own key and subject, so the leaves it signed stay valid.
"""

from __future__ import annotations

import datetime
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kubeling.pki import kubeconfig
from kubeling.pki.certs import (
    KeyType,
    PrivateKey,
    cert_to_pem,
    common_name_of,
    generate_key,
    is_ca,
    is_expired,
    is_signed_by,
    issue,
    key_matches,
    key_to_pem,
    load_cert,
    load_key,
    matches,
    new_ca,
    public_key_to_pem,
    request_of,
    utcnow,
    write_atomic,
)
from kubeling.pki.layout import (
    CAS,
    SA_KEY,
    SA_PUB,
    STATE_FILE,
    CASpec,
    Inventory,
    Kind,
    LeafSpec,
    ca_by_name,
    leaves,
    select,
    server_url,
)

CERT_MODE = 0o644
SECRET_MODE = 0o600


class PkiError(Exception):
    """Bad input or an inconsistent PKI directory: one line on stderr, exit 2, nothing written."""


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    inventory: Inventory
    key_type: KeyType = KeyType.ECDSA
    leaf_days: int = 365
    ca_days: int = 3650

    def state(self) -> bytes:
        data = {
            **self.inventory.to_json(),
            "keyType": str(self.key_type),
            "leafDays": self.leaf_days,
            "caDays": self.ca_days,
        }
        return (json.dumps(data, indent=2) + "\n").encode()


@dataclass
class Plan:
    """Desired file contents relative to the PKI directory, plus what to tell the user."""

    directory: Path
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def put(self, rel: str, data: bytes, mode: int) -> None:
        self.files[rel] = (data, mode)

    def apply(self) -> list[str]:
        """Write the files that differ; return their relative paths."""
        written = []
        for rel, (data, mode) in self.files.items():
            path = self.directory / rel
            try:
                same = path.read_bytes() == data
            except FileNotFoundError:
                same = False
            if same:
                if path.stat().st_mode & 0o777 != mode:
                    path.chmod(mode)
                continue
            write_atomic(path, data, mode)
            written.append(rel)
        return written


@dataclass
class Authority:
    spec: CASpec
    cert: x509.Certificate
    cert_pem: bytes
    key: PrivateKey


@dataclass
class Existing:
    """What is on disk for one leaf; any part may be missing."""

    cert: x509.Certificate | None = None
    cert_pem: bytes | None = None
    key: PrivateKey | None = None
    key_pem: bytes | None = None
    creds: kubeconfig.Credentials | None = None


class Store:
    """Reads the PKI directory, turning every unreadable file into a PkiError."""

    def __init__(self, directory: Path) -> None:
        if directory.exists() and not directory.is_dir():
            raise PkiError(f"{directory} is not a directory")
        self.directory = directory

    def read(self, rel: str) -> bytes | None:
        path = self.directory / rel
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PkiError(f"cannot read {path}: {exc.strerror}") from None

    def cert(self, rel: str) -> tuple[x509.Certificate, bytes] | None:
        data = self.read(rel)
        if data is None:
            return None
        try:
            return load_cert(data), data
        except ValueError as exc:
            raise PkiError(f"{self.directory / rel}: {exc}") from None

    def key(self, rel: str) -> tuple[PrivateKey, bytes] | None:
        data = self.read(rel)
        if data is None:
            return None
        try:
            return load_key(data), data
        except ValueError as exc:
            raise PkiError(f"{self.directory / rel}: {exc}") from None

    def leaf(self, spec: LeafSpec) -> Existing:
        """Load a leaf's certificate and key (from its files or its kubeconfig)."""
        found = Existing()
        where = self.directory / spec.path
        if spec.kind is Kind.KUBECONFIG:
            data = self.read(spec.path)
            if data is None:
                return found
            try:
                found.creds = kubeconfig.parse(data)
                found.cert, found.cert_pem = load_cert(found.creds.cert_pem), found.creds.cert_pem
                found.key, found.key_pem = load_key(found.creds.key_pem), found.creds.key_pem
            except ValueError as exc:
                raise PkiError(f"{where}: {exc}") from None
        else:
            where = self.directory / f"{spec.path}.key"
            if loaded_cert := self.cert(f"{spec.path}.crt"):
                found.cert, found.cert_pem = loaded_cert
            if loaded_key := self.key(f"{spec.path}.key"):
                found.key, found.key_pem = loaded_key
        if found.cert is not None and found.key is not None and not key_matches(found.cert, found.key):
            raise PkiError(f"{where}: private key does not match the certificate of {spec.name}")
        return found

    def authority(self, spec: CASpec) -> Authority:
        """A CA that must already exist, with its key (renew needs both)."""
        cert, key = self.cert(f"{spec.path}.crt"), self.key(f"{spec.path}.key")
        if cert is None or key is None:
            missing = f"{spec.path}.crt" if cert is None else f"{spec.path}.key"
            raise PkiError(f"CA {spec.name}: {self.directory / missing} not found")
        if not key_matches(cert[0], key[0]):
            raise PkiError(f"CA {spec.name}: {self.directory / spec.path}.key does not match its certificate")
        return Authority(spec, cert[0], cert[1], key[0])


def load_options(directory: Path) -> InitOptions:
    """The options init recorded in pki.json."""
    raw = Store(directory).read(STATE_FILE)
    if raw is None:
        raise PkiError(f"{directory / STATE_FILE} not found: run `kubeling pki init` first")
    try:
        data = json.loads(raw)
        return InitOptions(
            directory=directory,
            inventory=Inventory.from_json(data),
            key_type=KeyType(data.get("keyType", "ecdsa")),
            leaf_days=int(data.get("leafDays", 365)),
            ca_days=int(data.get("caDays", 3650)),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise PkiError(f"{directory / STATE_FILE}: {exc}") from None


# --- init ---------------------------------------------------------------------------------------


def _plan_ca(store: Store, plan: Plan, spec: CASpec, opts: InitOptions, now: datetime.datetime) -> Authority:
    crt_rel, key_rel = f"{spec.path}.crt", f"{spec.path}.key"
    loaded_cert, loaded_key = store.cert(crt_rel), store.key(key_rel)
    if loaded_cert is not None and loaded_key is None:
        raise PkiError(
            f"CA {spec.name}: {store.directory / key_rel} not found (externally managed CAs are unsupported)"
        )
    if loaded_key is not None:
        key, key_pem = loaded_key
    else:
        key = generate_key(opts.key_type)
        key_pem = key_to_pem(key)
    if loaded_cert is not None:
        cert, cert_pem = loaded_cert
        if not key_matches(cert, key):
            raise PkiError(f"CA {spec.name}: {store.directory / key_rel} does not match its certificate")
        if not is_ca(cert):
            raise PkiError(f"CA {spec.name}: {store.directory / crt_rel} is not a CA certificate")
        if is_expired(cert, now):
            # Same key and subject: the leaves it signed keep verifying.
            cert = new_ca(key, common_name=common_name_of(cert), days=opts.ca_days, now=now)
            cert_pem = cert_to_pem(cert)
            plan.log.append(f"[certs] Re-signing the expired {spec.name} certificate authority")
        else:
            plan.log.append(f"[certs] Using the existing {spec.name} certificate authority")
    else:
        cert = new_ca(key, common_name=spec.common_name, days=opts.ca_days, now=now)
        cert_pem = cert_to_pem(cert)
        plan.log.append(f"[certs] Generating {spec.name} certificate authority")
    plan.put(crt_rel, cert_pem, CERT_MODE)
    plan.put(key_rel, key_pem, SECRET_MODE)
    return Authority(spec, cert, cert_pem, key)


def _reissue_reason(found: Existing, spec: LeafSpec, ca: Authority, now: datetime.datetime) -> str | None:
    if found.cert is None:
        return "missing"
    if found.key is None:
        return "its key is missing"
    if is_expired(found.cert, now):
        return "expired"
    if not is_signed_by(found.cert, ca.cert):
        return f"not signed by the {ca.spec.name} on disk"
    if not matches(found.cert, spec.request):
        return "subject, SANs or usages changed"
    return None


def _put_leaf(
    plan: Plan,
    spec: LeafSpec,
    ca: Authority,
    cert_pem: bytes,
    key_pem: bytes,
    server: str,
    cluster: str,
) -> None:
    if spec.kind is Kind.CERT:
        plan.put(f"{spec.path}.crt", cert_pem, CERT_MODE)
        plan.put(f"{spec.path}.key", key_pem, SECRET_MODE)
        return
    creds = kubeconfig.Credentials(
        cluster=cluster,
        server=server,
        ca_pem=ca.cert_pem,
        user=spec.request.common_name,
        cert_pem=cert_pem,
        key_pem=key_pem,
    )
    plan.put(spec.path, kubeconfig.render(creds), SECRET_MODE)


def _plan_leaf(
    store: Store, plan: Plan, spec: LeafSpec, ca: Authority, opts: InitOptions, now: datetime.datetime
) -> None:
    found = store.leaf(spec)
    reason = _reissue_reason(found, spec, ca, now)
    if reason is None and found.cert_pem is not None and found.key_pem is not None:
        cert_pem, key_pem = found.cert_pem, found.key_pem
    else:
        if found.key is not None and found.key_pem is not None:
            key, key_pem = found.key, found.key_pem
        else:
            key = generate_key(opts.key_type)
            key_pem = key_to_pem(key)
        cert = issue(
            spec.request,
            public_key=key.public_key(),
            ca_cert=ca.cert,
            ca_key=ca.key,
            days=opts.leaf_days,
            now=now,
        )
        cert_pem = cert_to_pem(cert)
        verb = "Generating" if reason == "missing" else f"Reissuing ({reason})"
        plan.log.append(f"[certs] {verb} {spec.name}")
    _put_leaf(plan, spec, ca, cert_pem, key_pem, server_url(opts.inventory), opts.inventory.cluster)


def _plan_service_account(store: Store, plan: Plan) -> None:
    # kubeadm's ServiceAccount signing key: RSA 2048, whatever --key-type says.
    loaded = store.key(SA_KEY)
    if loaded is not None:
        key, key_pem = loaded
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_pem = key_to_pem(key)
        plan.log.append("[certs] Generating the sa key and public key")
    pub_pem = public_key_to_pem(key)
    existing_pub = store.read(SA_PUB)
    if existing_pub is not None:
        try:
            public = serialization.load_pem_public_key(existing_pub)
        except ValueError:
            raise PkiError(f"{store.directory / SA_PUB}: not a readable PEM public key") from None
        if public != key.public_key():
            raise PkiError(f"{store.directory / SA_PUB} does not match {store.directory / SA_KEY}")
        pub_pem = existing_pub
    plan.put(SA_KEY, key_pem, SECRET_MODE)
    plan.put(SA_PUB, pub_pem, CERT_MODE)


def init(opts: InitOptions, *, now: datetime.datetime | None = None, out: TextIO = sys.stdout) -> int:
    """Create what is missing or invalid in opts.directory; keep everything else byte for byte."""
    now = now or utcnow()
    if opts.leaf_days <= 0 or opts.ca_days <= 0:
        raise PkiError("--leaf-days and --ca-days must be positive")
    try:
        opts.inventory.validate()
    except ValueError as exc:
        raise PkiError(str(exc)) from None
    store = Store(opts.directory)
    plan = Plan(opts.directory)
    authorities = {spec.name: _plan_ca(store, plan, spec, opts, now) for spec in CAS}
    for spec in leaves(opts.inventory):
        _plan_leaf(store, plan, spec, authorities[spec.ca], opts, now)
    _plan_service_account(store, plan)
    plan.put(STATE_FILE, opts.state(), CERT_MODE)
    written = plan.apply()
    for line in plan.log:
        print(line, file=out)
    if written:
        # Listing a first init's forty files helps nobody; listing a later run's few does.
        listed = f": {', '.join(written)}" if len(written) <= 10 else ""
        print(f"[pki] wrote {len(written)} file(s) to {opts.directory}{listed}", file=out)
    else:
        print(f"[pki] {opts.directory} is up to date", file=out)
    return 0


# --- renew --------------------------------------------------------------------------------------


def renew(
    directory: Path,
    name: str,
    *,
    leaf_days: int | None = None,
    expiring_within_days: int | None = None,
    now: datetime.datetime | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Re-sign leaves with their CA: same key, subject, SANs and usages; new serial and validity.

    With ``expiring_within_days`` only the chosen leaves that expire within that many days
    are renewed (none, when all are fresh: the directory is left byte for byte).
    """
    renewed = renew_leaves(
        directory, name, leaf_days=leaf_days, expiring_within_days=expiring_within_days, now=now, out=out
    )
    if renewed:
        print(
            "\nDone renewing certificates. Restart kube-apiserver, kube-controller-manager, kube-scheduler,"
            " etcd and the kubelets so that they use the new certificates.",
            file=out,
        )
    else:
        print(f"[renew] nothing expires within {expiring_within_days} days: nothing renewed", file=out)
    return 0


def due_for_renewal(cert: x509.Certificate, expiring_within_days: int | None, now: datetime.datetime) -> bool:
    """Renew everything (no threshold), or what expires within the threshold."""
    if expiring_within_days is None:
        return True
    return cert.not_valid_after_utc <= now + datetime.timedelta(days=expiring_within_days)


def renew_leaves(
    directory: Path,
    name: str,
    *,
    leaf_days: int | None = None,
    expiring_within_days: int | None = None,
    now: datetime.datetime | None = None,
    out: TextIO = sys.stdout,
) -> list[str]:
    """:func:`renew`'s work; returns the names of the leaves renewed."""
    now = now or utcnow()
    opts = load_options(directory)
    days = opts.leaf_days if leaf_days is None else leaf_days
    if days <= 0:
        raise PkiError("--leaf-days must be positive")
    if expiring_within_days is not None and expiring_within_days < 0:
        raise PkiError("--expiring-within-days must not be negative")
    try:
        chosen = select(leaves(opts.inventory), name)
    except ValueError as exc:
        raise PkiError(str(exc)) from None
    store = Store(directory)
    authorities = {ca: store.authority(ca_by_name(ca)) for ca in dict.fromkeys(s.ca for s in chosen)}
    plan = Plan(directory)
    renewed = []
    for spec in chosen:
        found = store.leaf(spec)
        if found.cert is None or found.key is None or found.key_pem is None:
            missing = spec.path if spec.kind is Kind.KUBECONFIG else f"{spec.path}.crt/.key"
            raise PkiError(f"{spec.name}: {directory / missing} not found: run `kubeling pki init` first")
        if not due_for_renewal(found.cert, expiring_within_days, now):
            continue
        renewed.append(spec.name)
        ca = authorities[spec.ca]
        cert = issue(
            request_of(found.cert),
            public_key=found.key.public_key(),
            ca_cert=ca.cert,
            ca_key=ca.key,
            days=days,
            now=now,
        )
        # A kubeconfig keeps its own server and names; only the embedded certificates change.
        server = found.creds.server if found.creds else server_url(opts.inventory)
        cluster = found.creds.cluster if found.creds else opts.inventory.cluster
        _put_leaf(plan, spec, ca, cert_to_pem(cert), found.key_pem, server, cluster)
        plan.log.append(f"[renew] {spec.name} renewed, expires {_when(cert.not_valid_after_utc)}")
    plan.apply()
    for line in plan.log:
        print(line, file=out)
    return renewed


# --- check-expiration ---------------------------------------------------------------------------


def _when(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%b %d, %Y %H:%M UTC")


def residual(left: datetime.timedelta) -> str:
    """Time left, shortened the way kubectl and kubeadm print durations (364d, 9y, <invalid>)."""
    seconds = int(left.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    if (minutes := seconds // 60) < 60:
        return f"{minutes}m"
    if (hours := seconds // 3600) < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def check_expiration(
    directory: Path,
    *,
    warn_days: int = 30,
    now: datetime.datetime | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Print kubeadm's two tables; 1 when anything is missing or expires within warn_days."""
    now = now or utcnow()
    if warn_days < 0:
        raise PkiError("--warn-days must not be negative")
    opts = load_options(directory)
    store = Store(directory)
    horizon = now + datetime.timedelta(days=warn_days)
    due: list[str] = []

    def row(name: str, cert: x509.Certificate | None, *ca: str) -> list[str]:
        if cert is None:
            due.append(name)
            return [f"!MISSING! {name}", "", "", *ca, "no"]
        if cert.not_valid_after_utc <= horizon:
            due.append(name)
        expires = cert.not_valid_after_utc
        return [name, _when(expires), residual(expires - now), *ca, "no"]

    leaf_rows = []
    for spec in sorted(leaves(opts.inventory), key=lambda s: s.name):
        if spec.kind is Kind.KUBECONFIG:
            # Only the certificate matters here; a broken key is init's and renew's business.
            data = store.read(spec.path)
            try:
                cert = load_cert(kubeconfig.parse(data).cert_pem) if data is not None else None
            except ValueError as exc:
                raise PkiError(f"{directory / spec.path}: {exc}") from None
        else:
            loaded = store.cert(f"{spec.path}.crt")
            cert = loaded[0] if loaded else None
        leaf_rows.append(row(spec.name, cert, spec.ca))
    ca_rows = []
    for ca in sorted(CAS, key=lambda c: c.name):
        loaded = store.cert(f"{ca.path}.crt")
        ca_rows.append(row(ca.name, loaded[0] if loaded else None))
    print(
        _table(
            ["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "EXTERNALLY MANAGED"],
            leaf_rows,
        ),
        file=out,
    )
    print(file=out)
    print(
        _table(["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED"], ca_rows), file=out
    )
    if due:
        print(
            f"{len(due)} certificate(s) missing or expiring within {warn_days} days: {', '.join(due)}",
            file=err,
        )
        return 1
    return 0


# --- check-expiration on a host -------------------------------------------------------------------


def _host_certificates(cert_dir: Path) -> list[tuple[str, x509.Certificate]]:
    """(name, certificate) of every readable ``*.crt`` under cert_dir and kubeconfig next to it."""
    found: list[tuple[str, x509.Certificate]] = []
    for path in sorted(cert_dir.rglob("*.crt")):
        try:
            found.append((str(path.relative_to(cert_dir).with_suffix("")), load_cert(path.read_bytes())))
        except (OSError, ValueError) as exc:
            raise PkiError(f"{path}: {exc}") from None
    for path in sorted(cert_dir.parent.glob("*.conf")):
        try:
            creds = kubeconfig.parse(path.read_bytes())
            found.append((path.name, load_cert(creds.cert_pem)))
        except (OSError, ValueError):
            continue  # not a kubeconfig with an embedded client certificate (kubelet.conf of a token user)
    return found


def check_host_expiration(
    cert_dir: Path,
    *,
    warn_days: int = 30,
    now: datetime.datetime | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """kubeadm's ``--cert-dir`` mode: the tables for what a host holds (``/etc/kubernetes/pki``
    and the kubeconfigs of ``/etc/kubernetes``), with no pki.json; CAs are told by their
    basic constraints and leaves named by their path (``apiserver``, ``etcd/server``, ``admin.conf``)."""
    now = now or utcnow()
    if warn_days < 0:
        raise PkiError("--warn-days must not be negative")
    if not cert_dir.is_dir():
        raise PkiError(f"{cert_dir} is not a directory")
    found = _host_certificates(cert_dir)
    if not found:
        raise PkiError(f"no certificates under {cert_dir}")
    authorities = [(name, cert) for name, cert in found if is_ca(cert)]
    horizon = now + datetime.timedelta(days=warn_days)
    due = [name for name, cert in found if cert.not_valid_after_utc <= horizon]

    def issuer_of(cert: x509.Certificate) -> str:
        return next((name for name, ca in authorities if is_signed_by(cert, ca)), "")

    def timing(cert: x509.Certificate) -> list[str]:
        return [_when(cert.not_valid_after_utc), residual(cert.not_valid_after_utc - now)]

    leaf_rows = [
        [name, *timing(cert), issuer_of(cert), "no"] for name, cert in sorted(found) if not is_ca(cert)
    ]
    ca_rows = [[name, *timing(cert), "no"] for name, cert in sorted(authorities)]
    header = ["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "EXTERNALLY MANAGED"]
    print(_table(header, leaf_rows), file=out)
    print(file=out)
    print(
        _table(["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED"], ca_rows), file=out
    )
    if due:
        print(f"{len(due)} certificate(s) expiring within {warn_days} days: {', '.join(due)}", file=err)
        return 1
    return 0
