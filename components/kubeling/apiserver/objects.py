"""Encoding objects for storage and stamping read-time metadata.

Objects are stored as compact JSON without ``metadata.resourceVersion``: the
version is the storage revision of the write, known only after it, so it is
stamped on every read instead.
"""

from __future__ import annotations

import copy
import datetime
import time
from typing import Any

import orjson

from kubeling.storage import KeyValue

Obj = dict[str, Any]


def encode(obj: Obj) -> bytes:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "resourceVersion" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode(value: bytes, revision: int) -> Obj:
    obj = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def from_kv(kv: KeyValue) -> Obj:
    return decode(kv.value, kv.mod_revision)


_last_stamp: tuple[int, str] = (0, "")


def now_rfc3339() -> str:
    """The current time at second precision, formatted once per second (it is on every write)."""
    global _last_stamp
    second = int(time.time())
    if _last_stamp[0] != second:
        moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
        _last_stamp = (second, moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last_stamp[1]


def deep_copy(obj: Obj) -> Obj:
    # orjson round trip is several times faster than copy.deepcopy for JSON data.
    try:
        return orjson.loads(orjson.dumps(obj))
    except TypeError:
        return copy.deepcopy(obj)
