"""Quantities and durations written exactly as upstream's resource.Quantity and time.Duration print them."""

from __future__ import annotations

import pytest

from kubeling.metrics.quantity import format_cpu, format_duration, format_memory, format_time


@pytest.mark.parametrize(
    ("nanocores", "text"),
    [
        (0, "0"),
        (1, "1n"),
        (123456789, "123456789n"),
        (5_000_000, "5m"),
        (1_500_000_000, "1500m"),
        (2_000_000_000, "2"),
        (250_000, "250u"),
        (12_340_000, "12340u"),
        (3_000_000_000_000, "3k"),
    ],
    ids=str,
)
def test_cpu(nanocores: int, text: str) -> None:
    assert format_cpu(nanocores) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0"),
        (512, "512"),
        (1000, "1k"),  # below 1024: DecimalSI, as upstream
        (1024, "1Ki"),
        (4096 * 300, "1200Ki"),
        (50 * 1024 * 1024, "50Mi"),
        (1234567, "1234567"),
        (3 * 1024**3, "3Gi"),
    ],
    ids=str,
)
def test_memory(size: int, text: str) -> None:
    assert format_memory(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (15, "15s"),
        (15.012, "15.012s"),
        (60.5, "1m0.5s"),
        (3600, "1h0m0s"),
        (0.25, "250ms"),
        (0.0000015, "1.5µs"),
    ],
    ids=str,
)
def test_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_time_is_rfc3339_utc_whole_seconds() -> None:
    assert format_time(1_700_000_000.9) == "2023-11-14T22:13:20Z"
