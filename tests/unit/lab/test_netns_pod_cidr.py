"""Each netns lab takes a pod network of its own: the first free /20 of the pool."""

from __future__ import annotations

import pytest

from kubeling.lab.netns import LEGACY_POD_CIDR, LabError, pick_pod_cidr


def test_the_first_lab_takes_the_first_slice() -> None:
    assert pick_pod_cidr([]) == "10.248.0.0/20"


def test_a_second_lab_takes_the_next_slice() -> None:
    assert pick_pod_cidr(["10.248.0.0/20"]) == "10.248.16.0/20"
    assert pick_pod_cidr(["10.248.16.0/20"]) == "10.248.0.0/20"  # a freed slice is reused


def test_a_lab_made_before_the_pool_blocks_all_of_10_248() -> None:
    assert pick_pod_cidr([LEGACY_POD_CIDR]) == "10.249.0.0/20"


def test_a_full_pool_is_a_clear_error() -> None:
    taken = [f"10.{248 + i // 16}.{(i % 16) * 16}.0/20" for i in range(32)]
    with pytest.raises(LabError, match="take one down"):
        pick_pod_cidr(taken)
