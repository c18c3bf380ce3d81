"""The exec/attach WebSocket channel protocol (v4/v5)."""

from __future__ import annotations

import json

import pytest

from kubeling.kubelet.streaming import channels


def test_frames_carry_the_channel_byte() -> None:
    assert channels.frame(channels.STDOUT, b"hi") == b"\x01hi"
    assert channels.parse(b"\x00abc") == channels.Message(0, b"abc")
    assert channels.parse(b"") is None


@pytest.mark.parametrize(
    ("data", "size"),
    [(b'{"Width":80,"Height":24}', (80, 24)), (b"{}", None), (b"nope", None)],
    ids=["ok", "missing", "garbage"],
)
def test_resize(data: bytes, size: tuple[int, int] | None) -> None:
    assert channels.parse_resize(data) == size


def test_v5_close_names_a_channel() -> None:
    assert channels.closed_channel(channels.Message(255, b"\x00")) == 0
    assert channels.closed_channel(channels.Message(0, b"\x00")) is None


@pytest.mark.parametrize("code", [0, 3, 127])
def test_exit_status_round_trip(code: int) -> None:
    raw = channels.error_frame(channels.exit_status(code, ["sh", "-c", "exit"]))
    assert raw[0] == channels.ERROR
    status = json.loads(raw[1:])
    assert channels.exit_code_of(status) == code
    if code:
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": str(code)}]
    else:
        assert status == {"metadata": {}, "status": "Success"}


def test_runtime_errors_carry_no_exit_code() -> None:
    assert channels.exit_code_of(channels.error_status("boom")) is None


def test_base64_text_frames() -> None:
    assert channels.frame_text(channels.STDOUT, b"hi") == "1aGk="
    assert channels.parse_text("0aGk=") == channels.Message(channels.STDIN, b"hi")
    assert channels.parse_text("4" + "eyJXaWR0aCI6MSwiSGVpZ2h0IjoyfQ==") == channels.Message(
        channels.RESIZE, b'{"Width":1,"Height":2}'
    )
    assert channels.parse_text("") is None
    assert channels.parse_text("1not base64!") is None
