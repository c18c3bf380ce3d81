"""Reading this host's Debian mirror from apt's configuration, in both formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeling.image.sources import (
    AptSource,
    MirrorNotFound,
    find_mirror,
    parse_deb822,
    parse_one_line,
    pick_mirror,
)

DEB822 = """\
# comment before the first stanza
Types: deb
# a comment inside a stanza
URIs: http://archive.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://archive.example/debian bookworm main contrib
deb http://security.example/debian-security bookworm-security main
"""


def test_deb822_stanzas_with_lists_and_comments() -> None:
    assert parse_deb822(DEB822) == [
        AptSource(("deb",), ("http://archive.example/debian/",), ("bookworm", "bookworm-updates")),
        AptSource(("deb",), ("http://security.example/debian-security",), ("bookworm-security",)),
    ]


def test_deb822_continuation_lines_and_disabled_stanzas() -> None:
    text = (
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb deb-src\nURIs:\n http://a.example/debian\n http://b.example/debian\nSuites: bookworm\n"
    )
    assert parse_deb822(text) == [
        AptSource(("deb", "deb-src"), ("http://a.example/debian", "http://b.example/debian"), ("bookworm",))
    ]


def test_one_line_entries_with_options() -> None:
    assert parse_one_line(ONE_LINE) == [
        AptSource(("deb-src",), ("http://src.example/debian",), ("bookworm",)),
        AptSource(("deb",), ("http://archive.example/debian",), ("bookworm",)),
        AptSource(("deb",), ("http://security.example/debian-security",), ("bookworm-security",)),
    ]


@pytest.mark.parametrize(
    ("text", "parse", "expected"),
    [
        pytest.param(DEB822, parse_deb822, "http://archive.example/debian", id="deb822-skips-security"),
        pytest.param(ONE_LINE, parse_one_line, "http://archive.example/debian", id="one-line-skips-deb-src"),
        pytest.param("deb http://x.example/debian trixie main\n", parse_one_line, None, id="other-suite"),
    ],
)
def test_pick_mirror_wants_binary_packages_of_exactly_the_suite(text, parse, expected) -> None:
    assert pick_mirror(parse(text), "bookworm") == expected


def test_find_mirror_reads_deb822_before_one_line(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list").write_text("deb http://other.example/debian bookworm main\n")
    found = find_mirror(
        "bookworm",
        deb822_files=[tmp_path / "debian.sources"],
        one_line_files=[tmp_path / "sources.list"],
    )
    assert found == "http://archive.example/debian"
    only_list = find_mirror(
        "bookworm", deb822_files=[tmp_path / "missing.sources"], one_line_files=[tmp_path / "sources.list"]
    )
    assert only_list == "http://other.example/debian"


def test_find_mirror_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(MirrorNotFound, match=r"no apt source for Debian 'bookworm' in .*missing\.sources"):
        find_mirror("bookworm", deb822_files=[tmp_path / "missing.sources"], one_line_files=[])
