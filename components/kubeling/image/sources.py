"""Which Debian mirror this machine's apt uses, read at run time (pure parsing, no I/O but the reads).

The image build points debootstrap at the same archive apt on this host
already reaches, so nothing about the mirror is written into code, images or
notes.  Both formats apt reads are understood:

- deb822 (``/etc/apt/sources.list.d/*.sources``): blank-line separated
  stanzas of ``Field: value`` lines, continuation lines start with a space,
  ``#`` lines are comments; ``Types``, ``URIs`` and ``Suites`` are
  whitespace-separated lists, ``Enabled: no`` switches a stanza off.
- one-line (``/etc/apt/sources.list``): ``deb [options] URI suite [component...]``.

A mirror qualifies when it serves binary packages (``deb``) of the wanted
suite itself (``bookworm``, not ``bookworm-security`` or ``-updates``), which
is what debootstrap needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kubeling.image.errors import ImageError

DEB822_FILES = (Path("/etc/apt/sources.list.d/debian.sources"),)
ONE_LINE_FILES = (Path("/etc/apt/sources.list"),)


class MirrorNotFound(ImageError):
    """No apt source on this machine serves the suite."""


@dataclass(frozen=True)
class AptSource:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]


def parse_deb822(text: str) -> list[AptSource]:
    """The enabled stanzas of a deb822 ``.sources`` file."""
    sources = []
    for stanza in _stanzas(text.splitlines()):
        if stanza.get("enabled", "yes").strip().lower() == "no":
            continue
        sources.append(
            AptSource(
                types=tuple(stanza.get("types", "").split()),
                uris=tuple(stanza.get("uris", "").split()),
                suites=tuple(stanza.get("suites", "").split()),
            )
        )
    return sources


def _stanzas(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    last = ""
    for line in lines:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t" and last:
            fields[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            fields[last] = value.strip()
    if fields:
        yield fields


def parse_one_line(text: str) -> list[AptSource]:
    """The entries of a one-line-style ``sources.list``."""
    sources = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) < 3 or words[0] not in ("deb", "deb-src"):
            continue
        rest = words[1:]
        if rest[0].startswith("["):  # [arch=amd64 signed-by=...] options, possibly several words
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) >= 2:
            sources.append(AptSource(types=(words[0],), uris=(rest[0],), suites=(rest[1],)))
    return sources


def pick_mirror(sources: Iterable[AptSource], suite: str) -> str | None:
    """The first URI that serves binary packages of exactly ``suite``."""
    for source in sources:
        if "deb" in source.types and suite in source.suites and source.uris:
            return source.uris[0].rstrip("/")
    return None


def find_mirror(
    suite: str,
    *,
    deb822_files: Iterable[Path] = DEB822_FILES,
    one_line_files: Iterable[Path] = ONE_LINE_FILES,
) -> str:
    """This machine's mirror for ``suite``, from its apt configuration; raises :class:`MirrorNotFound`."""
    candidates: list[AptSource] = []
    for path in deb822_files:
        if path.is_file():
            candidates += parse_deb822(path.read_text())
    for path in one_line_files:
        if path.is_file():
            candidates += parse_one_line(path.read_text())
    mirror = pick_mirror(candidates, suite)
    if mirror is None:
        looked = ", ".join(str(p) for p in (*deb822_files, *one_line_files))
        raise MirrorNotFound(f"no apt source for Debian {suite!r} in {looked}")
    return mirror
