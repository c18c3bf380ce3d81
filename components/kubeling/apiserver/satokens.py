"""ServiceAccount tokens: issuing (TokenRequest) and authenticating them.

Tokens are JWTs signed with ``--service-account-signing-key-file`` and
verified against every key in ``--service-account-key-file``.  A token is
accepted only while its ServiceAccount (and, when bound, its Pod or Secret)
still exists with the same uid, so deleting the account revokes its tokens.
"""

from __future__ import annotations

import base64
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeling.api import errors
from kubeling.apiserver import jwt

Lookup = Callable[[str, str, str, str], dict[str, Any] | None]  # (group, plural, namespace, name)

DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 48 * 3600


@dataclass
class ServiceAccountTokens:
    issuer: str
    signing_key: jwt.PrivateKey | None
    verify_keys: list[jwt.PublicKey]
    api_audiences: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.api_audiences:
            self.api_audiences = [self.issuer]

    # -- issuing -----------------------------------------------------------------

    def issue(
        self, service_account: dict[str, Any], request: dict[str, Any], bound: dict[str, Any] | None
    ) -> dict:
        """Answer a TokenRequest for ``service_account``; returns the TokenRequest status."""
        if self.signing_key is None:
            raise errors.StatusError(
                503, "ServiceUnavailable", "the apiserver has no --service-account-signing-key-file"
            )
        spec = request.get("spec") or {}
        audiences = spec.get("audiences") or self.api_audiences
        if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
            raise errors.invalid(
                "authentication.k8s.io",
                "TokenRequest",
                "",
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        "Invalid value: audiences must be non-empty strings",
                        "spec.audiences",
                    )
                ],
            )
        expiration = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
        if not isinstance(expiration, int) or isinstance(expiration, bool) or expiration < MIN_EXPIRATION:
            raise errors.invalid(
                "authentication.k8s.io",
                "TokenRequest",
                "",
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {expiration}: may not specify a duration less than 10 minutes",
                        "spec.expirationSeconds",
                    )
                ],
            )
        expiration = min(expiration, MAX_EXPIRATION)
        now = int(time.time())
        meta = service_account["metadata"]
        private: dict[str, Any] = {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
        }
        if bound is not None:
            kind = bound["kind"].lower()
            private[kind] = {"name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
        claims = {
            "iss": self.issuer,
            "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
            "aud": audiences,
            "exp": now + expiration,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
        }
        token = jwt.sign(claims, self.signing_key)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + expiration))
        return {"token": token, "expirationTimestamp": stamp}

    # -- authenticating ----------------------------------------------------------

    def authenticate(
        self, token: str, lookup: Lookup, audiences: list[str] | None = None
    ) -> tuple[str, str, tuple[str, ...], dict[str, list[str]]] | None:
        """(user, uid, groups, extra) for a valid ServiceAccount token; None when it is not one of ours.

        ``audiences`` are the ones a TokenReview asks about (default: the
        apiserver's own); the token must be meant for one of them.
        """
        try:
            claims = jwt.verify(token, self.verify_keys)
        except jwt.InvalidToken:
            return None
        if claims.get("iss") == LEGACY_ISSUER:
            return _authenticate_legacy(token, claims, lookup)
        if claims.get("iss") != self.issuer:
            return None
        now = time.time()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 60:
            raise errors.unauthorized("Unauthorized")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + 60:
            raise errors.unauthorized("Unauthorized")
        meant_for = claims.get("aud")
        meant_for = [meant_for] if isinstance(meant_for, str) else meant_for or []
        if not set(meant_for) & set(audiences or self.api_audiences):
            raise errors.unauthorized("Unauthorized")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise errors.unauthorized("Unauthorized")
        namespace = private.get("namespace", "")
        account = private.get("serviceaccount") or {}
        live = lookup("", "serviceaccounts", namespace, account.get("name", ""))
        if live is None or live["metadata"].get("uid") != account.get("uid"):
            raise errors.unauthorized("Unauthorized")
        extra: dict[str, list[str]] = {}
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = private.get(kind)
            if isinstance(ref, dict):
                bound = lookup("", plural, namespace, ref.get("name", ""))
                if bound is None or bound["metadata"].get("uid") != ref.get("uid"):
                    raise errors.unauthorized("Unauthorized")
                extra[f"authentication.kubernetes.io/{kind}-name"] = [ref["name"]]
                extra[f"authentication.kubernetes.io/{kind}-uid"] = [ref["uid"]]
        user = f"system:serviceaccount:{namespace}:{account['name']}"
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
        return user, account.get("uid", ""), groups, extra

    # -- discovery ---------------------------------------------------------------

    def openid_configuration(self, jwks_uri: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({jwt.algorithm(k) for k in self.verify_keys}),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwt.jwk(k) for k in self.verify_keys]}


LEGACY_ISSUER = "kubernetes/serviceaccount"
_LEGACY = "kubernetes.io/serviceaccount/"


def _authenticate_legacy(
    token: str, claims: dict[str, Any], lookup: Lookup
) -> tuple[str, str, tuple[str, ...], dict[str, list[str]]]:
    """A token of a ``kubernetes.io/service-account-token`` Secret (signed by our key, never expiring).

    Valid only while its Secret still exists and still holds this very token,
    and its ServiceAccount exists with the uid the token names — deleting
    either revokes it, as upstream's legacy validator does.
    """
    namespace = claims.get(f"{_LEGACY}namespace")
    secret_name = claims.get(f"{_LEGACY}secret.name")
    account = claims.get(f"{_LEGACY}service-account.name")
    account_uid = claims.get(f"{_LEGACY}service-account.uid")
    if not all(isinstance(v, str) and v for v in (namespace, secret_name, account, account_uid)):
        raise errors.unauthorized("Unauthorized")
    secret = lookup("", "secrets", namespace, secret_name)
    stored = ((secret or {}).get("data") or {}).get("token", "")
    try:
        held = base64.b64decode(stored).decode() if stored else ""
    except (ValueError, UnicodeDecodeError):
        held = ""
    if not held or not hmac.compare_digest(held, token):
        raise errors.unauthorized("Unauthorized")
    live = lookup("", "serviceaccounts", namespace, account)
    if live is None or live["metadata"].get("uid") != account_uid:
        raise errors.unauthorized("Unauthorized")
    user = f"system:serviceaccount:{namespace}:{account}"
    return user, account_uid, ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"), {}
