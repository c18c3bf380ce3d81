"""`kubeling image` turns bad input into one error line and exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeling.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["build", "--version", "bad tag"], "not a valid image tag", id="bad-version"),
        pytest.param(["save", "--version", ":x"], "not a valid image tag", id="save-bad-version"),
        pytest.param(["load", "{missing}"], "is not a directory", id="load-missing-dir"),
        pytest.param(["load", "{empty}"], "no image tarballs", id="load-empty-dir"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.format(missing=tmp_path / "missing", empty=tmp_path / "empty") for a in argv]
    assert main(["image", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kubeling image {argv[0]}: error: ") and message in err[0]
