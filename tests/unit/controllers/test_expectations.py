"""Expectations: creates and deletes a controller still waits to see, on a fake clock."""

from __future__ import annotations

from kubeling.client.clock import FakeClock
from kubeling.controllers.expectations import Expectations


def test_creations_and_deletions_at_once() -> None:
    expectations = Expectations(clock=FakeClock())
    expectations.expect("ns/ds", creations=2, deletions=["ns/p1"])
    expectations.creation_observed("ns/ds")
    expectations.creation_observed("ns/ds")
    assert not expectations.satisfied("ns/ds")  # the delete is still outstanding
    expectations.deletion_observed("ns/ds", "ns/p1")
    expectations.deletion_observed("ns/ds", "ns/p1")  # seen twice, counted once
    assert expectations.satisfied("ns/ds")


def test_a_new_record_replaces_the_old_one() -> None:
    expectations = Expectations(clock=FakeClock())
    expectations.expect("ns/ds", creations=3)
    expectations.expect("ns/ds", deletions=["ns/p1"])
    expectations.deletion_observed("ns/ds", "ns/p1")
    assert expectations.satisfied("ns/ds")


async def test_lost_events_time_out() -> None:
    clock = FakeClock()
    expectations = Expectations(clock=clock, timeout=300)
    expectations.expect("ns/ds", creations=1, deletions=["ns/p1"])
    await clock.step(300)
    assert not expectations.satisfied("ns/ds")
    await clock.step(1)
    assert expectations.satisfied("ns/ds")


def test_unknown_and_forgotten_keys_are_satisfied() -> None:
    expectations = Expectations(clock=FakeClock())
    assert expectations.satisfied("ns/new")
    expectations.expect("ns/ds", creations=1)
    expectations.delete("ns/ds")
    assert expectations.satisfied("ns/ds")
