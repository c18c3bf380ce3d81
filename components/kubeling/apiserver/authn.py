"""Authentication: who is asking.

In order, as upstream: a front proxy's request headers, trusted only with a
client certificate of ``--requestheader-client-ca-file`` (see
:mod:`kubeling.apiserver.requestheader`), an x509 client certificate verified
against ``--client-ca-file`` (CN → user, O → groups), then a bearer token — a static
token (``--token-auth-file``, CSV ``token,user,uid,"group1,group2"``) or a
ServiceAccount JWT.  No credentials at all is ``system:anonymous``; a token
nobody knows gets 401.  Everyone authenticated is in ``system:authenticated``.

Client certificates are accepted by the TLS handshake and verified here
(see :mod:`kubeling.apiserver.clientcerts`), so one from an unknown CA, an
expired one, or one without the clientAuth usage gets 401, as upstream.
"""

from __future__ import annotations

import csv
import logging
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509

from kubeling.api import errors
from kubeling.apiserver.clientcerts import CertificateRejected, verify_client_certificate
from kubeling.apiserver.requestheader import RequestHeaderAuthenticator
from kubeling.apiserver.satokens import Lookup, ServiceAccountTokens

log = logging.getLogger(__name__)


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
        raise errors.unauthorized()
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
        # Set when the TLS handshake defers client-certificate verification to us.
        self.client_cas: list[x509.Certificate] | None = None
        # Set when --requestheader-client-ca-file is given.
        self.request_header: RequestHeaderAuthenticator | None = None

    def authenticate(self, request: web.Request) -> User:
        if self.request_header is not None:
            asserted = self.request_header.authenticate(request)
            if asserted is not None:
                return _authenticated(User(asserted.name, groups=asserted.groups, extra=asserted.extra))
        header = request.headers.get("Authorization", "")
        if not header:
            cert_user = self._certificate_user(request)
            return _authenticated(cert_user) if cert_user is not None else ANONYMOUS
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthorized()
        return self.authenticate_token(token)

    def _certificate_user(self, request: web.Request) -> User | None:
        transport = request.transport
        if transport is None:
            return None
        if self.client_cas is None:
            # The handshake verified the chain; only the validity period is left to check.
            return user_from_peer_certificate(transport.get_extra_info("peercert"))
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return None
        try:
            name, groups = verify_client_certificate(der, self.client_cas)
        except CertificateRejected as exc:
            # Like upstream, the client learns only "Unauthorized"; the reason is logged.
            log.info("rejected client certificate from %s: %s", request.remote, exc)
            raise errors.unauthorized() from None
        return User(name, groups=groups)

    def api_audiences(self) -> list[str]:
        """The audiences the apiserver accepts tokens for (``--api-audiences``, else its issuer)."""
        return list(self._service_accounts.api_audiences) if self._service_accounts is not None else []

    def authenticate_token(self, token: str, audiences: list[str] | None = None) -> User:
        """The user a bearer token stands for; 401 when it stands for nobody.

        ``audiences`` (a TokenReview's) narrow which ServiceAccount tokens count;
        static tokens are good for the apiserver's own audiences only.
        """
        user = self._tokens.get(token)
        if user is not None:
            if audiences and not set(audiences) & set(self.api_audiences()):
                raise errors.unauthorized()
            return _authenticated(user)
        if self._service_accounts is not None and self._lookup is not None:
            found = self._service_accounts.authenticate(token, self._lookup, audiences)
            if found is not None:
                name, uid, groups, extra = found
                return _authenticated(User(name, uid, groups, extra))
        raise errors.unauthorized()
