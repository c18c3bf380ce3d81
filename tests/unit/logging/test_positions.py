from __future__ import annotations

from pathlib import Path

from kubeling.logging.positions import Positions


def test_saved_positions_load_again(tmp_path: Path) -> None:
    positions = Positions(tmp_path / "sub" / "positions.json")
    positions.set("a.1.ff", "/logs/a-json.log", 120)
    positions.set("b.2.ee", "/logs/b-json.log", 0)
    positions.save()
    again = Positions(tmp_path / "sub" / "positions.json")
    again.load()
    assert again.offset("a.1.ff") == 120 and again.offset("b.2.ee") == 0 and again.offset("c") is None
    assert again.entries["a.1.ff"].path == "/logs/a-json.log"
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_forget_then_save_drops_the_entry(tmp_path: Path) -> None:
    positions = Positions(tmp_path / "positions.json")
    positions.set("a", "/x", 5)
    positions.save()
    positions.forget("a")
    positions.save()
    again = Positions(tmp_path / "positions.json")
    again.load()
    assert again.entries == {}


def test_missing_file_is_empty(tmp_path: Path) -> None:
    positions = Positions(tmp_path / "absent.json")
    positions.load()
    assert positions.entries == {}


def test_corrupt_file_is_set_aside_and_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "positions.json"
    path.write_text('{"version": 1, "files": {"a": {"offset": ')
    positions = Positions(path)
    positions.load()
    assert positions.entries == {}
    assert (tmp_path / "positions.json.corrupt").exists()
