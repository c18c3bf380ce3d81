"""The balancer's bookkeeping: parsing backends, rise/fall verdicts, the order connections try."""

from __future__ import annotations

import pytest

from kubeling.lb.backends import Backend, Pool, parse_backend

A, B, C = Backend("10.0.0.1", 6443), Backend("10.0.0.2", 6443), Backend("10.0.0.3", 6443)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", Backend("10.0.0.1", 6443)),
        ("10.0.0.1:7443", Backend("10.0.0.1", 7443)),
        ("cp-1:6443", Backend("cp-1", 6443)),
        ("[fd00::1]:6443", Backend("fd00::1", 6443)),
        ("fd00::1", Backend("fd00::1", 6443)),
    ],
    ids=["ip", "ip-port", "name-port", "ipv6-bracketed", "ipv6-bare"],
)
def test_parse_backend(text: str, expected: Backend) -> None:
    assert parse_backend(text) == expected


@pytest.mark.parametrize("text", ["", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:https", "[zz::1]:1"])
def test_parse_backend_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_backend(text)


def test_backend_prints_like_an_address() -> None:
    assert str(A) == "10.0.0.1:6443"
    assert str(Backend("fd00::1", 6443)) == "[fd00::1]:6443"


def test_round_robin_over_healthy_backends() -> None:
    pool = Pool([A, B, C])
    firsts = [pool.order()[0] for _ in range(6)]
    assert firsts == [A, B, C, A, B, C]


def test_fall_then_rise() -> None:
    pool = Pool([A, B], rise=2, fall=2)
    assert pool.record(A, "refused") is False  # one failure is not enough
    assert pool.healthy() == [A, B]
    assert pool.record(A, "refused") is True
    assert pool.healthy() == [B]
    assert pool.record(A, None) is False  # one pass is not enough with rise=2
    assert pool.record(A, None) is True
    assert pool.healthy() == [A, B]


def test_a_pass_resets_the_failure_count() -> None:
    pool = Pool([A], fall=2)
    pool.record(A, "timeout")
    pool.record(A, None)
    assert pool.record(A, "timeout") is False
    assert pool.states[A].healthy


def test_unhealthy_backends_are_tried_last() -> None:
    pool = Pool([A, B, C], fall=1)
    pool.record(B, "down")
    orders = [pool.order() for _ in range(2)]
    assert orders == [[A, C, B], [C, A, B]]


def test_all_unhealthy_still_tries_every_backend() -> None:
    pool = Pool([A, B], fall=1)
    pool.record(A, "down")
    pool.record(B, "down")
    assert pool.order() == [A, B]


@pytest.mark.parametrize(("rise", "fall"), [(0, 1), (1, 0)])
def test_pool_refuses_bad_thresholds(rise: int, fall: int) -> None:
    with pytest.raises(ValueError):
        Pool([A], rise=rise, fall=fall)


def test_pool_needs_a_backend() -> None:
    with pytest.raises(ValueError):
        Pool([])
