"""Key-range and endpoint helpers of the storage backends."""

from __future__ import annotations

import pytest

from kubeling.storage.etcd import Endpoint, parse_endpoint, prefix_range_end
from kubeling.storage.sqlite import prefix_end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"/registry/pods/", b"/registry/pods0"),
        (b"a", b"b"),
        (b"a\xff", b"b"),
        (b"\xff\xff", b"\0"),
        (b"", b"\0"),
    ],
    ids=["slash", "letter", "trailing-ff", "all-ff", "empty"],
)
def test_etcd_prefix_range_end(prefix: bytes, end: bytes) -> None:
    assert prefix_range_end(prefix) == end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/registry/pods/", "/registry/pods0"),
        ("/registry/a", "/registry/b"),
        ("x\U0010ffff", "y"),
        ("\U0010ffff", None),
        ("", None),
        ("a\ud7ff", "a\ue000"),
    ],
    ids=["slash", "letter", "trailing-max", "all-max", "empty", "skips-surrogates"],
)
def test_sqlite_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


@pytest.mark.parametrize(
    ("url", "default_secure", "expected"),
    [
        ("http://127.0.0.1:2379", True, Endpoint("http://127.0.0.1:2379", "127.0.0.1:2379", False)),
        (
            "https://etcd-0.local:4001",
            False,
            Endpoint("https://etcd-0.local:4001", "etcd-0.local:4001", True),
        ),
        ("https://10.0.0.1", False, Endpoint("https://10.0.0.1", "10.0.0.1:2379", True)),
        ("10.0.0.1:2379", False, Endpoint("10.0.0.1:2379", "10.0.0.1:2379", False)),
        ("10.0.0.1:2379", True, Endpoint("10.0.0.1:2379", "10.0.0.1:2379", True)),
        ("https://[::1]:2379", False, Endpoint("https://[::1]:2379", "[::1]:2379", True)),
    ],
    ids=["http", "https-dns", "default-port", "bare", "bare-with-tls-files", "ipv6"],
)
def test_parse_endpoint(url: str, default_secure: bool, expected: Endpoint) -> None:
    assert parse_endpoint(url, default_secure=default_secure) == expected


@pytest.mark.parametrize("url", ["unix:///run/etcd.sock", "http://:2379"], ids=["unix", "no-host"])
def test_parse_endpoint_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(url)
