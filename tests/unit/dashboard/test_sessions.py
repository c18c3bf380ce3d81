"""Login sessions."""

from __future__ import annotations

import time

from kubeling.dashboard.sessions import Sessions


def test_open_get_close() -> None:
    sessions = Sessions()
    first, second = sessions.open("token-a", "alice"), sessions.open("token-b", "bob")
    assert first != second and len(first) >= 32
    assert sessions.get(first).token == "token-a"  # type: ignore[union-attr]
    assert sessions.get("forged") is None and sessions.get(None) is None
    sessions.close(first)
    assert sessions.get(first) is None and sessions.get(second) is not None


def test_idle_sessions_expire(monkeypatch) -> None:
    sessions = Sessions(idle_timeout=10)
    session_id = sessions.open("t", "u")
    start = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: start + 11)
    assert sessions.get(session_id) is None
