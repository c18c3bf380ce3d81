"""Pure parsing: link names into container references, Docker json-file lines into records.

Docker's json-file driver writes one JSON object per line::

    {"log":"hello\\n","stream":"stdout","time":"2026-11-23T18:22:09.123456789Z"}

``log`` keeps the line's newline (a line longer than 16 KiB is split into
records without one; each record is kept as it is).  Times are RFC 3339 with
up to nine fraction digits; they are handled as integer nanoseconds so the
order of lines within a second survives.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

import orjson

# <pod>_<namespace>_<container>-<64 hex>.log, as kubelet/logsymlinks.py makes them
_LINK = re.compile(r"^(?P<pod>[^_/]+)_(?P<namespace>[^_/]+)_(?P<container>[^_/]+)-(?P<id>[0-9a-f]{64})\.log$")
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True)
class ContainerRef:
    pod: str
    namespace: str
    container: str
    container_id: str


@dataclass(frozen=True)
class Record:
    time_ns: int
    stream: str
    text: str


def parse_link_name(name: str) -> ContainerRef | None:
    """The container a ``/var/log/containers`` entry names; None for other files."""
    match = _LINK.match(name)
    if match is None:
        return None
    return ContainerRef(match["pod"], match["namespace"], match["container"], match["id"])


def parse_time(text: str) -> int:
    """RFC 3339 (nanosecond fractions allowed) → nanoseconds since the epoch; ValueError if malformed."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = match[8]
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    fraction = (match[7] or "").ljust(9, "0")
    return seconds * 1_000_000_000 + int(fraction)


def format_time(time_ns: int) -> str:
    """Nanoseconds → RFC 3339 in UTC with nine fraction digits (Docker's and kubectl's shape)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    year, month, day, hour, minute, second = time.gmtime(seconds)[:6]
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{nanos:09d}Z"


def parse_json_line(raw: bytes) -> Record:
    """One json-file line (without its newline) → Record; ValueError if it is not one."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("log"), str):
        raise ValueError("not a json-file record (no string 'log')")
    text = value["log"]
    if text.endswith("\n"):
        text = text[:-1]
    stream = value.get("stream") if value.get("stream") in ("stdout", "stderr") else "stdout"
    return Record(parse_time(str(value.get("time", ""))), stream, text)


def parse_line(raw: bytes, fallback_ns: int) -> Record:
    """As :func:`parse_json_line`, but a foreign line is kept whole, stamped ``fallback_ns``."""
    try:
        return parse_json_line(raw)
    except ValueError:
        return Record(fallback_ns, "stdout", raw.decode("utf-8", "replace"))
