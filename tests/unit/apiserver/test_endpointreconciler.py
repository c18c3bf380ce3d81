from __future__ import annotations

import pytest

from kubeling.apiserver import endpointreconciler as er


def _lease(address: str, renewed: str, seconds: int = 15, label: str = "kube-apiserver") -> dict:
    return {
        "metadata": {"labels": {er.IDENTITY_LABEL: label}, "annotations": {er.ADDRESS_ANNOTATION: address}},
        "spec": {"renewTime": renewed, "leaseDurationSeconds": seconds},
    }


def test_only_unexpired_apiserver_leases_count() -> None:
    now = er._parse_time("2026-01-01T00:00:20.000000Z")
    leases = [
        _lease("10.0.0.2:6443", "2026-01-01T00:00:10.000000Z"),
        _lease("10.0.0.1:6443", "2026-01-01T00:00:19.000000Z"),
        _lease("10.0.0.3:6443", "2026-01-01T00:00:01.000000Z"),  # expired at :16
        _lease("10.0.0.4:6443", "2026-01-01T00:00:19.000000Z", label="other"),
    ]
    assert er.live_addresses(leases, now) == ["10.0.0.1:6443", "10.0.0.2:6443"]


def test_endpoints_share_the_first_port() -> None:
    endpoints = er.endpoints_for(["10.0.0.1:6443", "10.0.0.2:6443", "10.0.0.3:7443"])
    [subset] = endpoints["subsets"]
    assert subset["addresses"] == [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]
    assert subset["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]
    assert er.endpoints_for([])["subsets"] == []
    assert er.endpoint_slice_for([])["endpoints"] == []
    assert er.endpoint_slice_for(["[fd00::1]:6443"])["addressType"] == "IPv6"


@pytest.mark.parametrize(
    ("advertise", "bind", "expected"),
    [("10.1.2.3", "127.0.0.1", "10.1.2.3"), ("", "10.9.9.9", "10.9.9.9"), ("", "127.0.0.1", "")],
)
def test_advertised_address(advertise: str, bind: str, expected: str) -> None:
    assert er.advertised_address(advertise, bind) == expected
