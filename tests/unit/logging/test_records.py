from __future__ import annotations

import pytest

from kubeling.logging.records import (
    ContainerRef,
    Record,
    format_time,
    parse_json_line,
    parse_line,
    parse_link_name,
    parse_time,
)

CID = "ab" * 32


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"web-1_default_nginx-{CID}.log", ContainerRef("web-1", "default", "nginx", CID)),
        (f"a.b_kube-system_c-d-e-{CID}.log", ContainerRef("a.b", "kube-system", "c-d-e", CID)),
        ("web_default_nginx-123.log", None),
        (f"web_default_nginx-{CID}.log.1", None),
        ("kube-proxy.log", None),
    ],
    ids=["plain", "dashes-and-dots", "short-id", "rotated-suffix", "foreign"],
)
def test_link_names(name: str, expected: ContainerRef | None) -> None:
    assert parse_link_name(name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T00:00:01.000000001Z", 1_000_000_001),
        ("1970-01-01T01:00:01+01:00", 1_000_000_000),
        ("1969-12-31T19:00:01-05:00", 1_000_000_000),
    ],
    ids=["seconds", "fraction", "nanos", "east", "west"],
)
def test_times(text: str, expected: int) -> None:
    assert parse_time(text) == expected


def test_time_round_trip_keeps_nanoseconds() -> None:
    stamp = 1_795_000_000_123_456_789
    assert format_time(stamp) == "2026-11-18T11:06:40.123456789Z"
    assert parse_time(format_time(stamp)) == stamp


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-23T18:22:09", "2026-11-23T18:22:09.1234567891Z"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_json_file_record() -> None:
    raw = b'{"log":"line 7\\n","stream":"stderr","time":"2026-11-23T18:22:09.000000042Z"}'
    assert parse_json_line(raw) == Record(parse_time("2026-11-23T18:22:09.000000042Z"), "stderr", "line 7")


def test_split_long_line_keeps_its_text_without_newline() -> None:
    raw = b'{"log":"part","stream":"stdout","time":"2026-11-23T18:22:09Z"}'
    assert parse_json_line(raw).text == "part"


@pytest.mark.parametrize("raw", [b"plain text", b'{"stream":"stdout"}', b"[1]", b'{"log":"x","time":"bad"}'])
def test_foreign_lines_are_kept_whole(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json_line(raw)
    assert parse_line(raw, 5) == Record(5, "stdout", raw.decode())
