"""Flag value parsers shared by every ``kubeling`` subcommand (upstream's syntax)."""

from __future__ import annotations

import argparse


def csv_list(value: str) -> list[str]:
    """``a,b,c`` → ["a", "b", "c"] (blanks dropped)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def duration(value: str) -> float:
    """A Go-style duration (500ms, 90s, 5m, 1h, 1m30s) or plain seconds, as seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        return float(value)
    except ValueError:
        pass
    total, number, rest = 0.0, "", value
    while rest:
        if rest[0].isdigit() or rest[0] == ".":
            number, rest = number + rest[0], rest[1:]
            continue
        unit = "ms" if rest.startswith("ms") else rest[0]
        if unit not in units or not number:
            raise argparse.ArgumentTypeError(f"invalid duration {value!r}")
        try:
            total += float(number) * units[unit]
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid duration {value!r}") from None
        number, rest = "", rest[len(unit) :]
    if number or not value:
        raise argparse.ArgumentTypeError(f"invalid duration {value!r}")
    return total


def boolean(value: str) -> bool:
    """Go's strconv.ParseBool spellings, for ``--flag=true|false``."""
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r} (true or false)")


def add_bool(parser: argparse.ArgumentParser, name: str, *, default: bool, help: str = "") -> None:
    """``--name`` (true), ``--name=true`` or ``--name=false``, as Go's pflag booleans."""
    parser.add_argument(name, type=boolean, nargs="?", const=True, default=default, help=help)
