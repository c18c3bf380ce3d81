"""The CIDR bitmap behind node IPAM: allocation order, occupying, releasing, exhaustion."""

from __future__ import annotations

import pytest

from kubeling.controllers.cidrset import CIDRRangeFull, CIDRSet, CIDRSetError
from kubeling.controllers.nodeipam import node_cidrs


def test_allocates_in_order_and_reports_full() -> None:
    cidrs = CIDRSet("10.244.0.0/22", 24)
    assert cidrs.max_cidrs == 4
    assert [cidrs.allocate_next() for _ in range(4)] == [
        "10.244.0.0/24",
        "10.244.1.0/24",
        "10.244.2.0/24",
        "10.244.3.0/24",
    ]
    with pytest.raises(CIDRRangeFull, match="no remaining CIDRs"):
        cidrs.allocate_next()
    assert cidrs.allocated == 4


def test_released_subnets_are_reused_round_robin_not_at_once() -> None:
    cidrs = CIDRSet("10.0.0.0/22", 24)
    first = cidrs.allocate_next()
    cidrs.allocate_next()
    cidrs.release(first)
    assert cidrs.allocate_next() == "10.0.2.0/24"  # keeps going forward
    assert cidrs.allocate_next() == "10.0.3.0/24"
    assert cidrs.allocate_next() == first  # wraps around to the freed one


def test_occupied_ranges_are_skipped() -> None:
    cidrs = CIDRSet("10.244.0.0/16", 24)
    cidrs.occupy("10.244.0.0/24")
    cidrs.occupy("10.244.1.0/23")  # unnormalised: the /23 at 10.244.0.0 covers 0 and 1
    assert cidrs.is_used("10.244.1.0/24")
    assert cidrs.allocate_next() == "10.244.2.0/24"
    assert cidrs.allocated == 3


@pytest.mark.parametrize(
    "cidr",
    ["192.168.0.0/24", "fd00::/64", "not-a-cidr"],
    ids=["outside", "other-family", "garbage"],
)
def test_foreign_cidrs_are_refused(cidr: str) -> None:
    with pytest.raises(CIDRSetError):
        CIDRSet("10.244.0.0/16", 24).occupy(cidr)


@pytest.mark.parametrize(
    ("cluster", "mask"),
    [("10.0.0.0/16", 8), ("10.0.0.0/8", 25), ("10.0.0.0/16", 33)],
    ids=["mask-shorter-than-cluster", "too-many-subnets", "too-long"],
)
def test_bad_shapes_are_refused(cluster: str, mask: int) -> None:
    with pytest.raises(CIDRSetError):
        CIDRSet(cluster, mask)


def test_ipv6() -> None:
    cidrs = CIDRSet("fd00:10::/56", 64)
    assert cidrs.allocate_next() == "fd00:10::/64"
    assert cidrs.allocate_next() == "fd00:10:0:1::/64"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, []),
        ({"podCIDR": "10.0.0.0/24"}, ["10.0.0.0/24"]),
        ({"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24", "fd00::/64"]}, ["10.0.0.0/24", "fd00::/64"]),
    ],
    ids=["none", "legacy-field", "dual-stack"],
)
def test_node_cidrs(spec: dict[str, object], expected: list[str]) -> None:
    assert node_cidrs({"spec": spec}) == expected
