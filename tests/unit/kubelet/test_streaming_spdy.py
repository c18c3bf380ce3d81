"""SPDY/3.1 framing: frames round-trip, header blocks share one zlib stream with SPDY/3's dictionary."""

from __future__ import annotations

import struct
import zlib

import pytest

from kubeling.kubelet.streaming import spdy

FRAMES = [
    spdy.DataFrame(1, b"hello"),
    spdy.DataFrame(3, b"", spdy.FLAG_FIN),
    spdy.SynStream(1, {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}, spdy.FLAG_FIN),
    spdy.SynStream(5, {"streamtype": ["data"], "port": ["80"]}, priority=2),
    spdy.SynReply(1, {}),
    spdy.HeadersFrame(7, {"x": ["a", "b"]}),
    spdy.RstStream(3, spdy.CANCEL),
    spdy.Settings({spdy.WINDOW_UPDATE: 65536}),
    spdy.Ping(1),
    spdy.GoAway(9, 0),
    spdy.WindowUpdate(1, 1024),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_round_trip(frame: spdy.Frame) -> None:
    out, into = spdy.HeaderCodec(), spdy.HeaderCodec()
    assert spdy.FrameReader(into).feed(spdy.encode(frame, out)) == [frame]


def test_many_frames_in_odd_chunks_share_the_compression_state() -> None:
    out, into = spdy.HeaderCodec(), spdy.HeaderCodec()
    wire = b"".join(spdy.encode(f, out) for f in FRAMES)
    reader = spdy.FrameReader(into)
    got: list[spdy.Frame] = []
    for i in range(0, len(wire), 7):  # as a TCP stream or WebSocket messages may cut it
        got += reader.feed(wire[i : i + 7])
    assert got == FRAMES


def test_header_block_is_zlib_with_the_spdy3_dictionary() -> None:
    frame = spdy.encode(spdy.SynReply(1, {"status": ["200 OK"]}), spdy.HeaderCodec())
    block = frame[12:]
    # zlib header says "preset dictionary" with that dictionary's Adler-32.
    assert block[1] & 0x20
    assert struct.unpack(">I", block[2:6])[0] == zlib.adler32(spdy.DICTIONARY)
    plain = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(block)
    assert plain == struct.pack(">I", 1) + struct.pack(">I", 6) + b"status" + struct.pack(">I", 6) + b"200 OK"


def test_dictionary_is_spdy3s() -> None:
    d = spdy.DICTIONARY
    assert d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert d.endswith(b"charset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    assert len(d) == 1423


def test_garbage_header_block_is_a_protocol_error() -> None:
    wire = struct.pack(">HHI", 0x8003, spdy.SYN_REPLY, 8) + struct.pack(">I", 1) + b"nope"
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader(spdy.HeaderCodec()).feed(wire)


def test_unknown_control_frames_are_skipped() -> None:
    wire = struct.pack(">HHI", 0x8003, 0x55, 2) + b"xx" + spdy.encode(spdy.Ping(3), spdy.HeaderCodec())
    assert spdy.FrameReader(spdy.HeaderCodec()).feed(wire) == [spdy.Ping(3)]
