"""SPDY/3.1 framing: the frames port-forward needs, and header blocks.

Pure encode/decode, no I/O.  A :class:`FrameReader` is fed raw bytes in
whatever chunks they arrive (a TCP read, or a WebSocket message when the
SPDY connection is tunnelled in WebSocket binary messages) and yields whole
frames; :func:`encode` turns a frame into bytes.

Header blocks are zlib-compressed with SPDY/3's fixed dictionary, and the
zlib stream lives for the whole connection (one compressor per direction,
each block ending in a sync flush), so a :class:`HeaderCodec` belongs to one
connection and must see every block of it in order.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

# Control frame types.
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes.
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

MAX_DATA = (1 << 24) - 1
DEFAULT_WINDOW = 64 * 1024


def _dictionary() -> bytes:
    """SPDY/3's header compression dictionary (draft 3, section 2.6.10.1).

    A protocol constant: length-prefixed header names and values, then a run
    of common literal fragments; zlib checks it by its Adler-32 on both ends.
    """
    names = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language "
        "accept-ranges age allow authorization cache-control connection content-base content-encoding "
        "content-language content-length content-location content-md5 content-range content-type date "
        "etag expect expires from host if-match if-modified-since if-none-match if-range "
        "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
        "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status"
    )
    words = names.split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    out = bytearray()
    for word in words:
        out += struct.pack(">I", len(word)) + word.encode()
    return bytes(out) + tail.encode()


DICTIONARY = _dictionary()

Headers = dict[str, list[str]]


class ProtocolError(Exception):
    pass


@dataclass
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0
    associated_id: int = 0
    priority: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass
class HeadersFrame:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    values: dict[int, int] = field(default_factory=dict)  # id -> value (flags dropped)
    flags: int = 0


@dataclass
class Ping:
    id: int


@dataclass
class GoAway:
    last_good_id: int
    status: int = 0


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


Frame = DataFrame | SynStream | SynReply | HeadersFrame | RstStream | Settings | Ping | GoAway | WindowUpdate


class HeaderCodec:
    """Compress/decompress header blocks of one connection (state carries over between blocks)."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(level=9, zdict=DICTIONARY)
        self._decompressor = zlib.decompressobj(zdict=DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        block = bytearray(struct.pack(">I", len(headers)))
        for name, values in headers.items():
            raw_name = name.lower().encode()
            raw_value = b"\x00".join(v.encode() for v in values)
            block += struct.pack(">I", len(raw_name)) + raw_name
            block += struct.pack(">I", len(raw_value)) + raw_value
        return self._compressor.compress(bytes(block)) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def decompress(self, data: bytes) -> Headers:
        try:
            block = self._decompressor.decompress(data)
        except zlib.error as exc:
            raise ProtocolError(f"bad header block: {exc}") from None
        return _parse_block(block)


def _parse_block(block: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos = 4
        headers: Headers = {}
        for _ in range(count):
            (length,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4 : pos + 4 + length].decode().lower()
            pos += 4 + length
            (length,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4 : pos + 4 + length].decode()
            pos += 4 + length
            headers.setdefault(name, []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from None
    return headers


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def encode(frame: Frame, codec: HeaderCodec) -> bytes:
    """One frame as bytes; header-carrying frames advance ``codec``'s compressor."""
    if isinstance(frame, DataFrame):
        if len(frame.data) > MAX_DATA:
            raise ValueError("DATA frame too large")
        return struct.pack(">II", frame.stream_id & 0x7FFFFFFF, (frame.flags << 24) | len(frame.data)) + (
            frame.data
        )
    if isinstance(frame, SynStream):
        head = struct.pack(">IIBB", frame.stream_id, frame.associated_id, (frame.priority & 7) << 5, 0)
        return _control(SYN_STREAM, frame.flags, head + codec.compress(frame.headers))
    if isinstance(frame, SynReply):
        return _control(
            SYN_REPLY, frame.flags, struct.pack(">I", frame.stream_id) + codec.compress(frame.headers)
        )
    if isinstance(frame, HeadersFrame):
        return _control(
            HEADERS, frame.flags, struct.pack(">I", frame.stream_id) + codec.compress(frame.headers)
        )
    if isinstance(frame, RstStream):
        return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
    if isinstance(frame, Settings):
        body = struct.pack(">I", len(frame.values))
        body += b"".join(struct.pack(">II", key & 0xFFFFFF, value) for key, value in frame.values.items())
        return _control(SETTINGS, frame.flags, body)
    if isinstance(frame, Ping):
        return _control(PING, 0, struct.pack(">I", frame.id))
    if isinstance(frame, GoAway):
        return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_id, frame.status))
    if isinstance(frame, WindowUpdate):
        return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta))
    raise TypeError(f"not a SPDY frame: {frame!r}")


class FrameReader:
    """Incremental decoder: ``feed(bytes)`` returns the frames now complete."""

    def __init__(self, codec: HeaderCodec) -> None:
        self._codec = codec
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer, 0)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if first & 0x80000000:
                frame = self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, payload)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(DataFrame(first & 0x7FFFFFFF, payload, flags))
        return frames

    def _control(self, version: int, kind: int, flags: int, payload: bytes) -> Frame | None:
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                stream_id, associated, priority, _slot = struct.unpack_from(">IIBB", payload, 0)
                headers = self._codec.decompress(payload[10:])
                return SynStream(
                    stream_id & 0x7FFFFFFF, headers, flags, associated & 0x7FFFFFFF, priority >> 5
                )
            if kind in (SYN_REPLY, HEADERS):
                (stream_id,) = struct.unpack_from(">I", payload, 0)
                headers = self._codec.decompress(payload[4:])
                cls = SynReply if kind == SYN_REPLY else HeadersFrame
                return cls(stream_id & 0x7FFFFFFF, headers, flags)
            if kind == RST_STREAM:
                stream_id, status = struct.unpack_from(">II", payload, 0)
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", payload, 0)
                values = {}
                for index in range(count):
                    key, value = struct.unpack_from(">II", payload, 4 + 8 * index)
                    values[key & 0xFFFFFF] = value
                return Settings(values, flags)
            if kind == PING:
                return Ping(struct.unpack_from(">I", payload, 0)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">II", payload, 0)
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                stream_id, delta = struct.unpack_from(">II", payload, 0)
                return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error as exc:
            raise ProtocolError(f"short control frame of type {kind}: {exc}") from None
        return None  # unknown control frames are ignored, as the spec asks
