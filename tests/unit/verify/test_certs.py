from __future__ import annotations

import datetime as dt

import pytest

from kubeling.pki import kubeconfig
from kubeling.verify import certs
from tests.unit.verify.conftest import NOW, make_cert


@pytest.mark.parametrize(
    ("days", "at", "problem"),
    [
        (365, NOW + dt.timedelta(days=1), None),
        (365, NOW + dt.timedelta(days=340), "in 25 days (< 30)"),
        (365, NOW + dt.timedelta(days=400), "expired on"),
        (365, NOW - dt.timedelta(days=2), "not valid before"),
    ],
    ids=["fresh", "expiring-soon", "expired", "not-yet-valid"],
)
def test_expiry_problem(days: int, at: dt.datetime, problem: str | None) -> None:
    pem, _ = make_cert(days=days)
    found = certs.expiry_problem(certs.parse_certificate(pem), now=at, warn_days=30)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_warn_days_moves_the_threshold() -> None:
    validity = certs.parse_certificate(make_cert(days=60)[0])
    assert certs.expiry_problem(validity, now=NOW, warn_days=30) is None
    assert certs.expiry_problem(validity, now=NOW, warn_days=90) is not None
    assert "in 60 days" in certs.describe_expiry(validity, now=NOW)


def test_kubeconfig_client_certificate_is_read() -> None:
    pem, key = make_cert()
    text = kubeconfig.render(
        kubeconfig.Credentials("c", "https://127.0.0.1:6443", pem, "system:node:w1", pem, key)
    )
    assert certs.kubeconfig_certificate(text) == pem


@pytest.mark.parametrize(
    "text",
    [b"not: [yaml", b"kind: Pod\n", b"apiVersion: v1\nkind: Config\ncurrent-context: x\n"],
    ids=["broken", "not-config", "no-context"],
)
def test_bad_kubeconfig_is_a_certificate_error(text: bytes) -> None:
    with pytest.raises(certs.CertificateError, match="not a kubeconfig"):
        certs.kubeconfig_certificate(text)


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(certs.CertificateError, match="not a PEM certificate"):
        certs.parse_certificate(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


@pytest.mark.parametrize(
    ("mode", "ok"), [(0o600, True), (0o400, True), (0o640, False), (0o644, False)], ids=oct
)
def test_key_mode(mode: int, ok: bool) -> None:
    problem = certs.key_mode_problem(mode)
    assert (problem is None) is ok
    if not ok:
        assert f"{mode:04o}" in problem
