"""Decode Kubernetes' protobuf encoding into JSON-shaped dicts.

kubectl's typed commands send bodies as ``application/vnd.kubernetes.protobuf``:
the magic ``k8s\\x00`` followed by a ``runtime.Unknown`` envelope whose
``typeMeta`` names apiVersion/kind and whose ``raw`` bytes are the object's
message.  Field numbers, names and types come from ``protobuf_fields.json``
(generated from upstream's .proto files by ``hack/gen_protobuf_fields.py``).

Upstream's special types become their JSON forms: Time → RFC 3339,
Quantity → string, IntOrString → int or string, RawExtension/FieldsV1 →
embedded JSON.  Empty strings are dropped (Go treats "" as unset); other
zero values are kept, because the wire does not tell a pointer from a value.
"""

from __future__ import annotations

import base64
import datetime
import functools
import struct
from importlib import resources
from typing import Any

import orjson

from kubeling.api import errors, schemas

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_TIME = _META + "Time"
_MICRO_TIME = _META + "MicroTime"
_DURATION = _META + "Duration"
_FIELDS_V1 = _META + "FieldsV1"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
# Go named slices that protobuf wraps in a message with one repeated field.
_LIST_WRAPPERS = {
    _META + "Verbs",
    "k8s.io.api.authentication.v1.ExtraValue",
    "k8s.io.api.authorization.v1.ExtraValue",
    "k8s.io.api.certificates.v1.ExtraValue",
}


class DecodeError(Exception):
    pass


@functools.cache
def _messages() -> dict[str, dict[int, tuple[Any, ...]]]:
    raw = (resources.files("kubeling.api") / "protobuf_fields.json").read_bytes()
    table = orjson.loads(raw)["messages"]
    return {name: {f[0]: tuple(f[1:]) for f in fields} for name, fields in table.items()}


def message_for(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    definition = schemas.kinds().get((group, version, kind))
    if not definition or not definition.startswith("io.k8s."):
        return None
    name = "k8s.io." + definition[len("io.k8s.") :]
    return name if name in _messages() else None


# -- wire format -------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def _fields(buf: bytes):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise DecodeError("truncated field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise DecodeError("truncated field")
        yield number, wire, value


def _signed(value: int, bits: int = 64) -> int:
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    return value


def _scalar(type_name: str, wire: int, value: Any) -> Any:
    if type_name == "string":
        return bytes(value).decode("utf-8", errors="replace")
    if type_name == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if type_name == "bool":
        return bool(value)
    if type_name in ("int32", "int64"):
        return _signed(value)
    if type_name in ("uint32", "uint64", "fixed32", "fixed64"):
        return value if wire == 0 else int.from_bytes(value, "little")
    if type_name in ("sint32", "sint64"):
        return (value >> 1) ^ -(value & 1)
    if type_name == "double":
        return struct.unpack("<d", value)[0]
    if type_name == "float":
        return struct.unpack("<f", value)[0]
    raise DecodeError(f"unknown scalar type {type_name}")


def _packed(type_name: str, buf: bytes) -> list[Any]:
    out = []
    pos = 0
    while pos < len(buf):
        if type_name in ("double", "fixed64"):
            out.append(_scalar(type_name, 1, buf[pos : pos + 8]))
            pos += 8
        elif type_name in ("float", "fixed32"):
            out.append(_scalar(type_name, 5, buf[pos : pos + 4]))
            pos += 4
        else:
            value, pos = _varint(buf, pos)
            out.append(_scalar(type_name, 0, value))
    return out


def _value(type_name: str, wire: int, value: Any, depth: int) -> Any:
    if type_name in _messages() or type_name.startswith("k8s.io."):
        if wire != 2:
            raise DecodeError(f"{type_name}: expected a message")
        return decode_message(bytes(value), type_name, depth + 1)
    return _scalar(type_name, wire, value)


def _format_time(seconds: int, nanos: int, micro: bool) -> str:
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_duration(nanoseconds: int) -> str:
    """Go's time.Duration String(): 1h2m3.5s, 150ms, 0s."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    ns = abs(nanoseconds)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{ns / size:g}{unit}"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = rest / 1_000_000_000
    text = f"{seconds:g}s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def decode_message(buf: bytes, name: str, depth: int = 0) -> Any:
    if depth > 64:
        raise DecodeError("message nesting too deep")
    fields = _messages().get(name)
    if fields is None:
        raise DecodeError(f"unknown message type {name}")
    decoded: dict[str, Any] = {}
    for number, wire, value in _fields(buf):
        spec = fields.get(number)
        if spec is None:
            continue  # a field newer than our table: ignore, as protobuf does
        field_name, label, type_name = spec[0], spec[1], spec[2]
        if label == "map":
            entry: dict[int, Any] = {}
            for n, w, v in _fields(bytes(value)):
                entry[n] = _value(type_name if n == 1 else spec[3], w, v, depth)
            key = entry.get(1, "")
            decoded.setdefault(field_name, {})[key] = entry.get(2, _empty(spec[3]))
        elif label == "repeated":
            items = decoded.setdefault(field_name, [])
            if wire == 2 and type_name not in ("string", "bytes") and type_name in _SCALAR_TYPES:
                items.extend(_packed(type_name, bytes(value)))
            else:
                items.append(_value(type_name, wire, value, depth))
        else:
            decoded[field_name] = _value(type_name, wire, value, depth)
    return _special(name, decoded)


_SCALAR_TYPES = {
    "bool",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "double",
    "float",
    "fixed32",
    "fixed64",
}


def _empty(type_name: str) -> Any:
    return "" if type_name in ("string", "bytes") else 0 if type_name in _SCALAR_TYPES else {}


def _special(name: str, decoded: dict[str, Any]) -> Any:
    if name in (_TIME, _MICRO_TIME):
        seconds, nanos = decoded.get("seconds", 0), decoded.get("nanos", 0)
        if not seconds and not nanos:
            return None
        return _format_time(seconds, nanos, micro=name == _MICRO_TIME)
    if name == _QUANTITY:
        return decoded.get("string", "")
    if name == _INT_OR_STRING:
        return decoded.get("strVal", "") if decoded.get("type") == 1 else decoded.get("intVal", 0)
    if name == _DURATION:
        return _format_duration(decoded.get("duration", 0))
    if name in (_RAW_EXTENSION, _FIELDS_V1):
        raw = decoded.get("raw") or decoded.get("Raw")
        if not raw:
            return None
        try:
            return orjson.loads(base64.b64decode(raw))
        except orjson.JSONDecodeError:
            raise DecodeError("embedded JSON is malformed") from None
    if name in _LIST_WRAPPERS:
        return decoded.get("items", [])
    # Go treats "" as unset, and JSON omits it; a nil Time is omitted too.
    return {k: v for k, v in decoded.items() if v != "" and v is not None}


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body (magic + runtime.Unknown) → a JSON-shaped object."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body does not start with the Kubernetes magic prefix")
    try:
        envelope = decode_message(body[len(MAGIC) :], _UNKNOWN)
        type_meta = envelope.get("typeMeta") or {}
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        message = message_for(api_version, kind)
        if message is None:
            raise errors.unsupported_media_type(f"{MEDIA_TYPE} for {api_version}/{kind}")
        raw = base64.b64decode(envelope.get("raw", ""))
        obj = decode_message(raw, message)
    except DecodeError as exc:
        raise errors.bad_request(f"error decoding protobuf body: {exc}") from None
    except RecursionError:
        raise errors.bad_request("error decoding protobuf body: nesting too deep") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
