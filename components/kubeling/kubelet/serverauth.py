"""Who is calling the kubelet server, and may they: delegated to the apiserver, as upstream.

Authentication: a client certificate the TLS handshake verified against
``--client-ca-file`` (user = CN, groups = O), else a bearer token checked by
a TokenReview.  Authorization: a SubjectAccessReview on the Node, with the
subresource from the path (/stats → nodes/stats, /metrics → nodes/metrics,
/logs → nodes/log, everything else → nodes/proxy) and the verb from the
HTTP method.  Answers are cached briefly (upstream: 2 min authn, 5 min
allowed / 30 s denied), so a busy stream does not cost a review per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubeling.client.rest import RESTClient

_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_AUTHN_TTL = 120.0
_ALLOWED_TTL = 300.0
_DENIED_TTL = 30.0


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


def subresource_for(path: str) -> str:
    for prefix, sub in (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log")):
        if path == prefix or path.startswith(prefix + "/"):
            return sub
    return "proxy"


def verb_for(method: str) -> str:
    return _VERBS.get(method.upper(), method.lower())


def certificate_identity(request: web.Request) -> Identity | None:
    """The identity in a client certificate the handshake verified, if one was presented."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()  # {} unless verified against the client CA
    if not cert:
        return None
    user, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return Identity(user, tuple(groups)) if user else None


class DelegatedAuth:
    def __init__(self, client: RESTClient | None, node_name: str) -> None:
        self.client = client
        self.node_name = node_name
        self._tokens: dict[str, tuple[float, Identity | None]] = {}
        self._decisions: dict[tuple[Any, ...], tuple[float, bool, str]] = {}

    async def authenticate(self, request: web.Request) -> Identity | None:
        identity = certificate_identity(request)
        if identity is not None:
            return identity
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer ") or self.client is None:
            return None
        return await self._review_token(header[7:].strip())

    async def _review_token(self, token: str) -> Identity | None:
        cached = self._tokens.get(token)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        assert self.client is not None
        review = await self.client.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
        )
        status = review.get("status") or {}
        identity = None
        if status.get("authenticated"):
            user = status.get("user") or {}
            identity = Identity(
                user.get("username", ""),
                tuple(user.get("groups") or ()),
                user.get("uid", ""),
                user.get("extra") or {},
            )
        if len(self._tokens) > 1000:
            self._tokens.clear()
        self._tokens[token] = (now + _AUTHN_TTL, identity)
        return identity

    async def authorize(self, identity: Identity, method: str, path: str) -> tuple[bool, str]:
        if self.client is None:
            return True, ""
        verb, sub = verb_for(method), subresource_for(path)
        key = (identity.user, identity.groups, verb, sub)
        now = time.monotonic()
        cached = self._decisions.get(key)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        spec: dict[str, Any] = {
            "user": identity.user,
            "groups": list(identity.groups),
            "resourceAttributes": {
                "verb": verb,
                "group": "",
                "version": "v1",
                "resource": "nodes",
                "subresource": sub,
                "name": self.node_name,
            },
        }
        if identity.uid:
            spec["uid"] = identity.uid
        if identity.extra:
            spec["extra"] = identity.extra
        review = await self.client.request(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            body={"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec},
        )
        status = review.get("status") or {}
        allowed = bool(status.get("allowed"))
        reason = f"Forbidden (user={identity.user}, verb={verb}, resource=nodes, subresource={sub})"
        if len(self._decisions) > 1000:
            self._decisions.clear()
        self._decisions[key] = (now + (_ALLOWED_TTL if allowed else _DENIED_TTL), allowed, reason)
        return allowed, reason
