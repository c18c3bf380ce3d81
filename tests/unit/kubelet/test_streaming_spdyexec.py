"""Exec over SPDY: protocol negotiation and the resize stream's back-to-back JSON objects."""

from __future__ import annotations

import pytest

from kubeling.kubelet.streaming.spdyexec import _json_objects, negotiate


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["v5.channel.k8s.io", "v4.channel.k8s.io"], "v5.channel.k8s.io"),
        (["v4.channel.k8s.io", "v3.channel.k8s.io"], "v4.channel.k8s.io"),
        (["v9.channel.k8s.io", "v2.channel.k8s.io"], "v2.channel.k8s.io"),
        ([], "channel.k8s.io"),
        (["v9.channel.k8s.io"], None),
    ],
)
def test_negotiate(offered: list[str], chosen: str | None) -> None:
    assert negotiate(offered) == chosen


def test_resize_objects_back_to_back_and_split() -> None:
    buffer = bytearray(b'{"Width":80,"Height":24}\n{"Width":100,')
    assert _json_objects(buffer) == [{"Width": 80, "Height": 24}]
    assert buffer == bytearray(b'\n{"Width":100,') or buffer == bytearray(b'{"Width":100,')
    buffer += b'"Height":30}{"Width":1,"Height":2}'
    assert _json_objects(buffer) == [{"Width": 100, "Height": 30}, {"Width": 1, "Height": 2}]
    assert buffer == bytearray()
