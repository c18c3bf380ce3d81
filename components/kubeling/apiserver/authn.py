"""Authentication: who is asking.

For now: static bearer tokens (``--token-auth-file``, upstream's CSV format
``token,user,uid,"group1,group2"``).  A request without credentials is
``system:anonymous``; a request with a token nobody knows gets 401.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kubeling.api import errors


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()


ANONYMOUS = User("system:anonymous", groups=("system:unauthenticated",))


def load_token_file(path: str) -> dict[str, User]:
    users: dict[str, User] = {}
    if not path:
        return users
    with Path(path).open(newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{line_number}: want token,user[,uid[,groups]]")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            users[row[0].strip()] = User(row[1].strip(), row[2].strip() if len(row) > 2 else "", groups)
    return users


class Authenticator:
    def __init__(self, tokens: dict[str, User]) -> None:
        self._tokens = tokens

    def authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.unauthorized()
        user = self._tokens.get(token.strip())
        if user is None:
            raise errors.unauthorized()
        return User(user.name, user.uid, (*user.groups, "system:authenticated"))
