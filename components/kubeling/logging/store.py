"""The log store's database: SQLite, one row per line, keyed by the line's id.

Ids are ``<file identity>:<byte offset>`` (see ``files.py``), so ``INSERT OR
IGNORE`` makes a batch sent twice land once.  Rows are ordered by the time
Docker stamped, then by file and offset, which keeps a container's lines in
the order it wrote them even within one nanosecond.  Label selectors are
matched in Python on the JSON the row keeps (the other filters are SQL).

The database is a file (a hostPath in the addon, so lines outlive the
store's pod); ``:memory:`` is for tests.  Calls block: the HTTP server runs
them in a worker thread, one at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubeling.api.selectors import LabelSelector
from kubeling.logging.records import format_time, parse_time

Obj = dict[str, Any]
MAX_LIMIT = 10_000
_FIELDS = ("namespace", "pod", "container", "containerID", "node", "podUID", "stream")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    id TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    offset INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    container TEXT NOT NULL,
    container_id TEXT NOT NULL,
    node TEXT NOT NULL,
    pod_uid TEXT NOT NULL,
    stream TEXT NOT NULL,
    labels TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_by_pod ON lines (namespace, pod, time_ns);
CREATE INDEX IF NOT EXISTS lines_by_time ON lines (time_ns);
"""


class InvalidBatch(ValueError):
    pass


@dataclass
class Query:
    namespace: str = ""
    pod: str = ""
    container: str = ""
    selector: LabelSelector | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    contains: str = ""
    limit: int = 1000


def _row(item: Any, index: int) -> tuple[Any, ...]:
    if not isinstance(item, dict):
        raise InvalidBatch(f"items[{index}]: not an object")
    line_id = item.get("id")
    if not isinstance(line_id, str) or ":" not in line_id:
        raise InvalidBatch(f"items[{index}].id: want <file>:<offset>")
    file, _, offset = line_id.rpartition(":")
    if not offset.isdigit() or not file:
        raise InvalidBatch(f"items[{index}].id: want <file>:<offset>")
    try:
        time_ns = parse_time(str(item.get("time", "")))
    except ValueError as exc:
        raise InvalidBatch(f"items[{index}].time: {exc}") from None
    values = {}
    for name in _FIELDS:
        value = item.get(name, "")
        if not isinstance(value, str):
            raise InvalidBatch(f"items[{index}].{name}: not a string")
        values[name] = value
    if not values["namespace"] or not values["pod"]:
        raise InvalidBatch(f"items[{index}]: namespace and pod are required")
    labels = item.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise InvalidBatch(f"items[{index}].labels: want a map of strings")
    text = item.get("log", "")
    if not isinstance(text, str):
        raise InvalidBatch(f"items[{index}].log: not a string")
    return (
        line_id,
        file,
        int(offset),
        time_ns,
        values["namespace"],
        values["pod"],
        values["container"],
        values["containerID"],
        values["node"],
        values["podUID"],
        values["stream"] or "stdout",
        orjson.dumps(labels).decode(),
        text,
    )


class LogStore:
    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a process crash loses nothing committed
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, items: Iterable[Any]) -> tuple[int, int]:
        """Store a batch in one transaction; (added, already present). InvalidBatch stores nothing."""
        rows = [_row(item, i) for i, item in enumerate(items)]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR IGNORE INTO lines VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            added = self._db.total_changes - before
        return added, len(rows) - added

    def query(self, query: Query) -> list[Obj]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("namespace", query.namespace),
            ("pod", query.pod),
            ("container", query.container),
        ):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if query.since_ns is not None:
            where.append("time_ns >= ?")
            params.append(query.since_ns)
        if query.until_ns is not None:
            where.append("time_ns <= ?")
            params.append(query.until_ns)
        if query.contains:
            where.append("instr(text, ?) > 0")
            params.append(query.contains)
        sql = "SELECT * FROM lines"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time_ns, file, offset"
        limit = max(1, min(query.limit, MAX_LIMIT))
        selector = query.selector if query.selector is not None and not query.selector.empty else None
        if selector is None:
            sql += f" LIMIT {limit}"
        out: list[Obj] = []
        with self._lock:
            cursor = self._db.execute(sql, params)
            for row in cursor:
                item = _item(row)
                if selector is not None and not selector.matches(item["labels"]):
                    continue
                out.append(item)
                if len(out) >= limit:
                    break
            cursor.close()
        return out

    def delete_before(self, time_ns: int) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM lines WHERE time_ns < ?", (time_ns,)).rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM lines").fetchone()[0])


def _item(row: tuple[Any, ...]) -> Obj:
    (line_id, _file, _offset, time_ns, namespace, pod, container, cid, node, uid, stream, labels, text) = row
    return {
        "id": line_id,
        "time": format_time(time_ns),
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "containerID": cid,
        "node": node,
        "podUID": uid,
        "stream": stream,
        "labels": orjson.loads(labels),
        "log": text,
    }
