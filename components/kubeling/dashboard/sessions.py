"""Login sessions: a random cookie value stands for a bearer token the user gave once.

The token stays on the server (in memory); the browser holds only an opaque
session id in an HttpOnly, SameSite=Strict cookie, so page scripts cannot read
it and other sites cannot ride on it. Sessions end on logout, after
``idle_timeout`` without a request, or when the dashboard restarts.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

COOKIE = "kubeling-dashboard-session"


@dataclass
class Session:
    token: str
    username: str
    last_used: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self, *, idle_timeout: float = 8 * 3600) -> None:
        self.idle_timeout = idle_timeout
        self._by_id: dict[str, Session] = {}

    def open(self, token: str, username: str) -> str:
        self._expire()
        session_id = secrets.token_urlsafe(32)
        self._by_id[session_id] = Session(token, username)
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_used > self.idle_timeout:
            del self._by_id[session_id]
            return None
        session.last_used = now
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._by_id.items() if now - s.last_used > self.idle_timeout]:
            del self._by_id[key]
