"""Port-forward on the channel WebSocket: the ports a request names."""

from __future__ import annotations

import pytest

from kubeling.kubelet.streaming.wsportforward import parse_ports


@pytest.mark.parametrize(
    ("values", "ports"),
    [(["80"], [80]), (["80,443"], [80, 443]), (["80", "8080"], [80, 8080])],
)
def test_parse_ports(values: list[str], ports: list[int]) -> None:
    assert parse_ports(values) == ports


@pytest.mark.parametrize("values", [[], [""], ["0"], ["70000"], ["http"], ["80,"]])
def test_bad_ports(values: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_ports(values)
