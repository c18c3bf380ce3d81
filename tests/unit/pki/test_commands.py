"""init / renew / check-expiration in-process, with the clock moved by hand."""

from __future__ import annotations

import datetime
import hashlib
import io
import ipaddress
from pathlib import Path

import pytest

from kubeling.pki import certs, commands, kubeconfig
from kubeling.pki.commands import InitOptions, PkiError
from kubeling.pki.layout import Host, Inventory

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def make_options(directory: Path, **overrides: object) -> InitOptions:
    inventory = Inventory(
        cluster="demo",
        control_planes=(Host("cp1", ipaddress.ip_address("10.0.0.11")),),
        nodes=(Host("w1", ipaddress.ip_address("10.0.0.21")),),
    )
    fields: dict[str, object] = {
        "directory": directory,
        "inventory": inventory,
        "leaf_days": 30,
        "ca_days": 100,
    }
    fields.update(overrides)
    return InitOptions(**fields)  # type: ignore[arg-type]


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def cert_of(directory: Path, name: str) -> certs.x509.Certificate:
    data = (directory / name).read_bytes()
    if name.endswith(".conf"):
        data = kubeconfig.parse(data).cert_pem
    return certs.load_cert(data)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    commands.init(make_options(tmp_path), now=NOW, out=io.StringIO())
    return tmp_path


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (datetime.timedelta(seconds=-5), "<invalid>"),
        (datetime.timedelta(seconds=-0.5), "0s"),
        (datetime.timedelta(seconds=42), "42s"),
        (datetime.timedelta(minutes=59, seconds=59), "59m"),
        (datetime.timedelta(hours=23), "23h"),
        (datetime.timedelta(days=364, hours=23), "364d"),
        (datetime.timedelta(days=3649), "9y"),
    ],
    ids=["expired", "just-now", "seconds", "minutes", "hours", "days", "years"],
)
def test_residual(left: datetime.timedelta, text: str) -> None:
    assert commands.residual(left) == text


def test_second_init_changes_nothing(pki: Path) -> None:
    before = snapshot(pki)
    out = io.StringIO()
    assert commands.init(make_options(pki), now=NOW + DAY, out=out) == 0
    assert snapshot(pki) == before
    assert "up to date" in out.getvalue()


def test_expired_leaves_are_reissued_with_their_keys(pki: Path) -> None:
    before = snapshot(pki)
    commands.init(make_options(pki), now=NOW + 31 * DAY, out=io.StringIO())
    after = snapshot(pki)
    # Every leaf certificate and kubeconfig changes; no key file and no CA does.
    assert all(name.endswith((".crt", ".conf")) for name in changed(before, after))
    assert {"apiserver.crt", "etcd/cp1/peer.crt", "admin.conf", "kubelet/w1.crt"} <= changed(before, after)
    assert not {"ca.crt", "etcd/ca.crt", "front-proxy-ca.crt"} & changed(before, after)
    assert cert_of(pki, "apiserver.crt").not_valid_after_utc == NOW + 61 * DAY


def test_expired_ca_is_resigned_with_its_key(tmp_path: Path) -> None:
    commands.init(make_options(tmp_path, ca_days=2, leaf_days=1), now=NOW, out=io.StringIO())
    old_ca = cert_of(tmp_path, "ca.crt")
    before = snapshot(tmp_path)
    commands.init(make_options(tmp_path, ca_days=2, leaf_days=1), now=NOW + 3 * DAY, out=io.StringIO())
    new_ca = cert_of(tmp_path, "ca.crt")
    assert new_ca.subject == old_ca.subject and new_ca.public_key() == old_ca.public_key()
    assert new_ca.not_valid_after_utc == NOW + 5 * DAY
    assert "ca.key" not in changed(before, snapshot(tmp_path))
    assert certs.is_signed_by(cert_of(tmp_path, "admin.conf"), new_ca)


def test_leaves_of_a_replaced_ca_are_reissued(pki: Path) -> None:
    other = pki.parent / "other"
    commands.init(make_options(other), now=NOW, out=io.StringIO())
    for name in ("ca.crt", "ca.key"):
        (pki / name).write_bytes((other / name).read_bytes())
    before = snapshot(pki)
    commands.init(make_options(pki), now=NOW, out=io.StringIO())
    touched = changed(before, snapshot(pki))
    assert {
        "apiserver.crt",
        "apiserver-kubelet-client.crt",
        "kubelet/w1.crt",
        "admin.conf",
        "kubelet-w1.conf",
    } <= touched
    # Certificates of the etcd and front-proxy CAs are untouched.
    assert not {n for n in touched if n.startswith("etcd/") or n.startswith("front-proxy")}
    assert certs.is_signed_by(cert_of(pki, "apiserver.crt"), cert_of(pki, "ca.crt"))


def test_new_endpoint_reissues_apiserver_and_rewrites_kubeconfigs(pki: Path) -> None:
    before = snapshot(pki)
    options = make_options(pki)
    inventory = Inventory(**{**options.inventory.__dict__, "apiserver_endpoint": "k8s.example.com"})
    commands.init(make_options(pki, inventory=inventory), now=NOW, out=io.StringIO())
    touched = changed(before, snapshot(pki))
    confs = {"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kube-proxy.conf"}
    assert touched == {"apiserver.crt", "pki.json", "kubelet-cp1.conf", "kubelet-w1.conf"} | confs
    assert kubeconfig.parse((pki / "admin.conf").read_bytes()).server == "https://k8s.example.com:6443"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("apiserver.key", "does not match the certificate of apiserver"),
        ("ca.key", "does not match its certificate"),
        ("sa.pub", "does not match"),
    ],
    ids=["leaf-key", "ca-key", "sa-pub"],
)
def test_mismatched_key_is_an_error_and_writes_nothing(pki: Path, damage: str, message: str) -> None:
    stranger = certs.generate_key(certs.KeyType.RSA)
    data = certs.public_key_to_pem(stranger) if damage == "sa.pub" else certs.key_to_pem(stranger)
    (pki / damage).write_bytes(data)
    before = snapshot(pki)
    with pytest.raises(PkiError, match=message):
        commands.init(make_options(pki), now=NOW, out=io.StringIO())
    assert snapshot(pki) == before


def test_renew_moves_not_after_and_keeps_the_rest(pki: Path) -> None:
    old = cert_of(pki, "etcd/cp1/server.crt")
    before = snapshot(pki)
    assert commands.renew(pki, "etcd-server", now=NOW + 10 * DAY, out=io.StringIO()) == 0
    new = cert_of(pki, "etcd/cp1/server.crt")
    assert changed(before, snapshot(pki)) == {"etcd/cp1/server.crt"}
    assert new.not_valid_after_utc == NOW + 40 * DAY
    assert new.serial_number != old.serial_number
    assert certs.request_of(new) == certs.request_of(old)
    assert new.public_key() == old.public_key()


def test_check_expiration_flags_what_expires_within_warn_days(pki: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert commands.check_expiration(pki, warn_days=10, now=NOW, out=out, err=err) == 0
    assert err.getvalue() == ""
    header, *_ = out.getvalue().splitlines()
    assert header.split("   ")[0] == "CERTIFICATE"
    assert "admin.conf                 Jan 31, 2030 00:00 UTC   30d " in out.getvalue()
    # 25 days later every leaf is within 10 days of its end; the CAs (100 days) are not.
    err = io.StringIO()
    assert commands.check_expiration(pki, warn_days=10, now=NOW + 25 * DAY, out=io.StringIO(), err=err) == 1
    assert "apiserver" in err.getvalue() and "etcd-ca" not in err.getvalue()


def test_check_expiration_reports_missing(pki: Path) -> None:
    (pki / "scheduler.conf").unlink()
    out, err = io.StringIO(), io.StringIO()
    assert commands.check_expiration(pki, now=NOW, out=out, err=err) == 1
    assert "!MISSING! scheduler.conf" in out.getvalue()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: commands.renew(d, "nope", out=io.StringIO()), "unknown certificate 'nope'"),
        (lambda d: commands.check_expiration(d / "absent", out=io.StringIO()), "pki.json not found"),
        (lambda d: commands.init(make_options(d, leaf_days=0), out=io.StringIO()), "must be positive"),
    ],
    ids=["unknown-name", "no-state", "zero-days"],
)
def test_bad_input(pki: Path, call: object, message: str) -> None:
    before = snapshot(pki)
    with pytest.raises(PkiError, match=message):
        call(pki)  # type: ignore[operator]
    assert snapshot(pki) == before


def test_renew_without_ca_key_fails_before_writing(pki: Path) -> None:
    (pki / "ca.key").unlink()
    before = snapshot(pki)
    with pytest.raises(PkiError, match=r"ca\.key not found"):
        commands.renew(pki, "all", out=io.StringIO())
    assert snapshot(pki) == before
