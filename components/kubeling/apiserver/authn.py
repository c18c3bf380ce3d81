"""Authentication: who is asking.

In order, as upstream: an x509 client certificate verified against
``--client-ca-file`` (CN → user, O → groups), then a bearer token — a static
token (``--token-auth-file``, CSV ``token,user,uid,"group1,group2"``) or a
ServiceAccount JWT.  No credentials at all is ``system:anonymous``; a token
nobody knows gets 401.  Everyone authenticated is in ``system:authenticated``.

The TLS layer checks client certificates' signatures during the handshake
but not their validity period; an expired (or not yet valid) certificate
reaches this code and gets 401, as upstream.  A certificate from another CA
is refused in the handshake itself: Python's ssl module offers no "request
but don't verify" mode that would let us answer 401 instead.
"""

from __future__ import annotations

import csv
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver.satokens import Lookup, ServiceAccountTokens


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)


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


def _authenticated(user: User) -> User:
    groups = user.groups if "system:authenticated" in user.groups else (*user.groups, "system:authenticated")
    return User(user.name, user.uid, groups, user.extra)


def user_from_peer_certificate(peercert: dict | None) -> User | None:
    """CN → user name, every O → a group (from ssl's decoded certificate)."""
    if not peercert:
        return None
    common_name = ""
    organizations: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                common_name = value
            elif key == "organizationName":
                organizations.append(value)
    if not common_name:
        return None
    now = time.time()
    try:
        not_before = ssl.cert_time_to_seconds(peercert["notBefore"])
        not_after = ssl.cert_time_to_seconds(peercert["notAfter"])
    except (KeyError, ValueError):
        raise errors.unauthorized() from None
    if not not_before <= now <= not_after:
        raise errors.unauthorized("Unauthorized: the client certificate has expired or is not yet valid")
    return User(common_name, groups=tuple(organizations))


class Authenticator:
    def __init__(
        self,
        tokens: dict[str, User],
        service_accounts: ServiceAccountTokens | None = None,
        lookup: Lookup | None = None,
    ) -> None:
        self._tokens = tokens
        self._service_accounts = service_accounts
        self._lookup = lookup

    def authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        if not header:
            transport = request.transport
            cert_user = user_from_peer_certificate(
                transport.get_extra_info("peercert") if transport else None
            )
            return _authenticated(cert_user) if cert_user is not None else ANONYMOUS
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthorized()
        return self.authenticate_token(token)

    def authenticate_token(self, token: str) -> User:
        """The user a bearer token stands for; 401 when it stands for nobody."""
        user = self._tokens.get(token)
        if user is not None:
            return _authenticated(user)
        if self._service_accounts is not None and self._lookup is not None:
            found = self._service_accounts.authenticate(token, self._lookup)
            if found is not None:
                name, uid, groups, extra = found
                return _authenticated(User(name, uid, groups, extra))
        raise errors.unauthorized()
