"""downwardAPI volumes (and projected downwardAPI sources): facts about the pod as files.

fieldRef paths volumes allow, as upstream: metadata.name, metadata.namespace,
metadata.uid, metadata.labels and metadata.annotations (whole maps written as
sorted ``key="value"`` lines, values quoted as Go's %q, no trailing newline),
and one entry by subscript (``metadata.labels['app']``).

resourceFieldRef: ``limits.*`` / ``requests.*`` of cpu, memory and
ephemeral-storage of the named container, divided by ``divisor`` (default 1)
and rounded up — cpu in millicores first, as upstream.  A limit the
container does not set reads as the node's allocatable amount.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from kubeling.api.validation.common import QuantityError, parse_quantity
from kubeling.kubelet.atomicwriter import FileProjection
from kubeling.kubelet.volumeplugins.base import DEFAULT_MODE, Obj, VolumeError, file_mode

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def go_quote(text: str) -> str:
    """``fmt.Sprintf("%q", text)`` for valid UTF-8: printable runes kept, the rest escaped."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def format_map(values: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={go_quote(str(values[key]))}" for key in sorted(values))


def _split_subscript(path: str) -> tuple[str, str] | None:
    if not path.endswith("']"):
        return None
    head, sep, subscript = path[:-2].partition("['")
    return (head, subscript) if sep and head else None


def field_value(pod: Obj, path: str) -> str:
    meta = pod.get("metadata") or {}
    split = _split_subscript(path)
    if split is not None:
        head, key = split
        if head in ("metadata.labels", "metadata.annotations"):
            return str((meta.get(head.split(".", 1)[1]) or {}).get(key, ""))
        raise VolumeError(f"fieldPath {path!r} does not support subscript")
    if path == "metadata.labels":
        return format_map(meta.get("labels") or {})
    if path == "metadata.annotations":
        return format_map(meta.get("annotations") or {})
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(path.split(".", 1)[1], ""))
    raise VolumeError(f"unsupported fieldPath: {path}")


def _container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if container.get("name") == name:
            return container
    raise VolumeError(f"container {name} not found")


def resource_value(pod: Obj, ref: Obj, allocatable: Mapping[str, Any]) -> str:
    container = _container(pod, ref.get("containerName", ""))
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    if kind not in ("limits", "requests") or resource not in _RESOURCES:
        raise VolumeError(f"unsupported container resource : {ref.get('resource')}")
    amounts = (container.get("resources") or {}).get(kind) or {}
    raw = amounts.get(resource)
    if raw is None and kind == "limits":
        raw = allocatable.get(resource)
    try:
        amount = parse_quantity(raw) if raw is not None else Decimal(0)
        divisor = parse_quantity(ref.get("divisor") or "1")
    except QuantityError as exc:
        raise VolumeError(f"invalid quantity for {ref.get('resource')}: {exc}") from exc
    if divisor == 0:
        divisor = Decimal(1)
    if resource == "cpu":  # upstream divides MilliValue()s, each rounded up to a whole millicore
        milli = (amount * 1000).to_integral_value(rounding=ROUND_CEILING)
        divisor_milli = (divisor * 1000).to_integral_value(rounding=ROUND_CEILING)
        return str(math.ceil(milli / divisor_milli))
    value = amount.to_integral_value(rounding=ROUND_CEILING)
    return str(math.ceil(value / divisor.to_integral_value(rounding=ROUND_CEILING)))


def make_payload(
    pod: Obj, items: list[Obj], default_mode: int, allocatable: Mapping[str, Any]
) -> dict[str, FileProjection]:
    payload: dict[str, FileProjection] = {}
    failures: list[str] = []
    for item in items:
        try:
            if item.get("fieldRef"):
                data = field_value(pod, item["fieldRef"].get("fieldPath", ""))
            elif item.get("resourceFieldRef"):
                data = resource_value(pod, item["resourceFieldRef"], allocatable)
            else:
                data = ""
        except VolumeError as exc:
            failures.append(str(exc))
            continue
        payload[item.get("path", "")] = FileProjection(
            data.encode(), file_mode(item.get("mode"), default_mode)
        )
    if failures:
        # upstream's error aggregate: one message bare, several in brackets
        raise VolumeError(f"[{', '.join(failures)}]" if len(failures) > 1 else failures[0])
    return payload


def payload(
    pod: Obj, source: Obj, allocatable: Mapping[str, Any], default_mode: int | None = None
) -> dict[str, FileProjection]:
    mode = default_mode if default_mode is not None else file_mode(source.get("defaultMode"), DEFAULT_MODE)
    return make_payload(pod, source.get("items") or [], mode, allocatable)
