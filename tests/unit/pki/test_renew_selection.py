"""Renewal by threshold (what rotate_certs.py asks for) and check-expiration of a host's directory."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from kubeling.pki import commands
from tests.unit.pki.test_commands import DAY, NOW, changed, make_options, snapshot


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    # Leaves live 30 days from NOW; the etcd CA and the others 100.
    commands.init(make_options(tmp_path / "certs"), now=NOW, out=io.StringIO())
    return tmp_path / "certs"


@pytest.mark.parametrize(
    ("within", "at", "renewed"),
    [
        (10, NOW, 0),  # every leaf has 30 days left
        (None, NOW, "all"),  # no threshold: everything
        (10, NOW + 25 * DAY, "all"),  # 5 days left < 10
    ],
    ids=["fresh-nothing", "no-threshold-all", "expiring-all"],
)
def test_threshold_selects_what_expires(pki: Path, within: int | None, at, renewed: int | str) -> None:
    before = snapshot(pki)
    names = commands.renew_leaves(pki, "all", expiring_within_days=within, now=at, out=io.StringIO())
    if renewed == 0:
        assert names == [] and snapshot(pki) == before  # nothing written at all
    else:
        assert "apiserver" in names and "admin.conf" in names and "etcd-server-cp1" in names
        assert {"ca.crt", "ca.key", "sa.key", "pki.json"}.isdisjoint(changed(before, snapshot(pki)))


def test_renew_only_the_one_that_expires(pki: Path) -> None:
    commands.renew(pki, "apiserver", leaf_days=5, now=NOW, out=io.StringIO())
    names = commands.renew_leaves(pki, "all", expiring_within_days=10, now=NOW, out=io.StringIO())
    assert names == ["apiserver"]


def test_host_mode_check_expiration(pki: Path, tmp_path: Path) -> None:
    host = tmp_path / "etc-kubernetes"
    (host / "pki" / "etcd").mkdir(parents=True)
    for name in ("ca.crt", "apiserver.crt", "etcd/ca.crt"):
        shutil.copy(pki / name, host / "pki" / name)
    shutil.copy(pki / "etcd" / "cp1" / "server.crt", host / "pki" / "etcd" / "server.crt")
    shutil.copy(pki / "admin.conf", host / "admin.conf")
    out, err = io.StringIO(), io.StringIO()
    assert commands.check_host_expiration(host / "pki", now=NOW, out=out, err=err, warn_days=10) == 0
    text = out.getvalue()
    assert "apiserver " in text and "etcd/server" in text and "admin.conf" in text
    leaf_table = text.split("\n\n")[0]
    assert [line.split()[-2] for line in leaf_table.splitlines()[1:]] == ["ca", "ca", "etcd/ca"]
    assert "Jan 31, 2030" in text  # the leaves' expiry
    assert commands.check_host_expiration(host / "pki", now=NOW + 25 * DAY, out=out, err=err) == 1
    assert "expiring within 30 days" in err.getvalue()
