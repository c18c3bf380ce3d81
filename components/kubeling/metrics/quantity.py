"""How metrics.k8s.io writes its numbers: resource.Quantity and metav1.Duration strings.

CPU is a DecimalSI quantity made at scale -9 (nanocores): trailing zeros
are removed and the exponent lowered to a multiple of three, so 5000000
nanocores print as ``5m`` and 123456789 as ``123456789n``.  Memory is a
BinarySI quantity of bytes: exact multiples of 1024 take ``Ki``/``Mi``/...,
values below 1024 (and inexact ones) fall back to DecimalSI.  ``window`` is
a Go ``time.Duration`` string (``15.012s``, ``1m0.5s``).
"""

from __future__ import annotations

import datetime

_DECIMAL_SUFFIXES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def format_decimal(value: int, scale: int = 0) -> str:
    """``value * 10**scale`` in canonical DecimalSI form."""
    if value == 0:
        return "0"
    sign, amount, exponent = ("-" if value < 0 else ""), abs(value), scale
    while amount % 10 == 0:
        amount //= 10
        exponent += 1
    lower = exponent % 3  # Python's modulo is non-negative: step down to the multiple of three below
    amount, exponent = amount * 10**lower, exponent - lower
    if exponent > 18:
        return f"{sign}{amount}e{exponent}"
    if exponent < -9:  # finer than nano is not a suffix: upstream rounds up to n
        divisor = 10 ** (-9 - exponent)
        amount, exponent = -(-amount // divisor), -9
    return f"{sign}{amount}{_DECIMAL_SUFFIXES[exponent]}"


def format_cpu(nanocores: int) -> str:
    return format_decimal(nanocores, -9)


def format_memory(size: int) -> str:
    """Bytes as a BinarySI quantity."""
    if -1024 < size < 1024:
        return format_decimal(size)
    amount, power = abs(size), 0
    while amount % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
        amount //= 1024
        power += 1
    return f"{'-' if size < 0 else ''}{amount}{_BINARY_SUFFIXES[power]}"


def format_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for a duration in seconds (nanosecond precision)."""
    total = round(seconds * 1e9)
    if total == 0:
        return "0s"
    sign, total = ("-" if total < 0 else ""), abs(total)
    if total < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if total >= size:
                return sign + _fraction(total, size) + unit
    hours, rest = divmod(total, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    whole, part = divmod(value, unit)
    if not part:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{part:0{digits}d}".rstrip("0")


def format_time(epoch: float) -> str:
    """metav1.Time: RFC 3339 in UTC, whole seconds."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
