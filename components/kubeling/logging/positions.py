"""The positions file: how far the store has acknowledged each file, by file identity.

Written only after an acknowledged batch, atomically (a temporary file,
fsync, rename), so after a crash it holds either the previous or the new
state and never an offset past what the store has.  An unreadable file is
set aside and counts as empty: files are then read from their start again,
and the store's idempotency keeps that from duplicating anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger(__name__)
VERSION = 1


@dataclass
class Position:
    path: str  # where the file was last seen, to find a rotated file again after a restart
    offset: int


class Positions:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, Position] = {}

    def load(self) -> None:
        try:
            data = orjson.loads(self.path.read_bytes())
            files = data["files"] if data.get("version") == VERSION else {}
            self.entries = {key: Position(str(v["path"]), int(v["offset"])) for key, v in files.items()}
        except FileNotFoundError:
            self.entries = {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("positions file %s is unreadable (%s): reading from the start", self.path, exc)
            with contextlib.suppress(OSError):
                self.path.rename(self.path.with_name(self.path.name + ".corrupt"))
            self.entries = {}

    def offset(self, identity: str) -> int | None:
        entry = self.entries.get(identity)
        return entry.offset if entry is not None else None

    def set(self, identity: str, path: str, offset: int) -> None:
        self.entries[identity] = Position(path, offset)

    def forget(self, identity: str) -> None:
        self.entries.pop(identity, None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files = {key: {"path": p.path, "offset": p.offset} for key, p in self.entries.items()}
        body = orjson.dumps({"version": VERSION, "files": files})
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
