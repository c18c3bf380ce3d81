"""Who is calling, and may they: delegated to the apiserver, as upstream's generic extension apiserver.

Authentication, first match wins:

1. a client certificate signed by the request-header CA whose CN is allowed
   (any CN when ``requestheader-allowed-names`` is empty) and that names a
   user in a username header → that user, the groups of every group header,
   extras from the extra-header prefixes (key lowercased and unescaped) —
   the aggregator's front-proxy requests;
2. a client certificate signed by the client CA → user CN, groups O;
3. a bearer token → a TokenReview (cached ``--authentication-token-webhook-cache-ttl``).

Where the CAs and header names come from: the ``--client-ca-file`` and
``--requestheader-*`` flags when given, else the apiserver's
``kube-system/extension-apiserver-authentication`` ConfigMap, read at start
and again every 30 s so a rotated CA is picked up.

Authorization: ``--authorization-always-allow-paths`` need nothing; the
group ``system:masters`` is always allowed (upstream's default); everything
else is a SubjectAccessReview — resource attributes for
``/apis/metrics.k8s.io/v1beta1/...`` (group metrics.k8s.io, resource nodes or
pods, verb get or list), non-resource attributes for other paths — cached
for ``--authorization-webhook-cache-(un)authorized-ttl``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509

from kubeling.api import errors
from kubeling.apiserver.clientcerts import CertificateRejected, verify_client_certificate
from kubeling.client.rest import RESTClient
from kubeling.metrics.config import RequestHeaderConfig

log = logging.getLogger(__name__)

CONFIGMAP_PATH = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
GROUP, VERSION = "metrics.k8s.io", "v1beta1"
ALWAYS_ALLOW_GROUPS = ("system:masters",)
_CACHE_LIMIT = 1000
# Resource requests' verbs by HTTP method (upstream's request info); non-resource paths keep the method.
_RESOURCE_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


class DelegationConfig(Protocol):
    """The flags delegated authentication and authorization read (metrics-server's, the log store's)."""

    client_ca_file: str
    requestheader: RequestHeaderConfig
    authentication_cache_ttl: float
    authorization_allowed_ttl: float
    authorization_denied_ttl: float


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class AuthSources:
    """The trust anchors and header names in force right now."""

    client_cas: list[x509.Certificate] = field(default_factory=list)
    requestheader_cas: list[x509.Certificate] = field(default_factory=list)
    allowed_names: list[str] = field(default_factory=list)
    username_headers: list[str] = field(default_factory=list)
    uid_headers: list[str] = field(default_factory=list)
    group_headers: list[str] = field(default_factory=list)
    extra_headers_prefix: list[str] = field(default_factory=list)


def _pem_certificates(text: str, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise ValueError(f"{what}: not PEM certificates: {exc}") from None


def _json_list(text: str | None, what: str) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"{what}: not a JSON list") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what}: not a JSON list of strings")
    return value


def sources_from_configmap(data: dict[str, str]) -> AuthSources:
    """The ConfigMap's keys (upstream's names) → AuthSources; ValueError on malformed values."""
    sources = AuthSources()
    if data.get("client-ca-file"):
        sources.client_cas = _pem_certificates(data["client-ca-file"], "client-ca-file")
    if data.get("requestheader-client-ca-file"):
        sources.requestheader_cas = _pem_certificates(
            data["requestheader-client-ca-file"], "requestheader-client-ca-file"
        )
        for key in (
            "requestheader-allowed-names",
            "requestheader-username-headers",
            "requestheader-uid-headers",
            "requestheader-group-headers",
            "requestheader-extra-headers-prefix",
        ):
            attribute = key.removeprefix("requestheader-").replace("-", "_")
            setattr(sources, attribute, _json_list(data.get(key), key))
    return sources


def apply_flags(sources: AuthSources, config: DelegationConfig) -> AuthSources:
    """Flags win over the ConfigMap, each CA with its own header settings, as upstream."""
    if config.client_ca_file:
        sources.client_cas = _pem_certificates(Path(config.client_ca_file).read_text(), "--client-ca-file")
    header = config.requestheader
    if header.client_ca_file:
        sources.requestheader_cas = _pem_certificates(
            Path(header.client_ca_file).read_text(), "--requestheader-client-ca-file"
        )
        sources.allowed_names = list(header.allowed_names)
        sources.username_headers = list(header.username_headers)
        sources.uid_headers = list(header.uid_headers)
        sources.group_headers = list(header.group_headers)
        sources.extra_headers_prefix = list(header.extra_headers_prefix)
    return sources


def user_from_headers(headers: Any, sources: AuthSources) -> User | None:
    """The user a front proxy names in request headers (None without a username header)."""
    name = next((v for h in sources.username_headers if (v := headers.get(h, "").strip())), "")
    if not name:
        return None
    uid = next((v for h in sources.uid_headers if (v := headers.get(h, "").strip())), "")
    groups = tuple(v for h in sources.group_headers for v in headers.getall(h, []))
    extra: dict[str, list[str]] = {}
    prefixes = [p.lower() for p in sources.extra_headers_prefix]
    for key in headers:
        lowered = key.lower()
        for prefix in prefixes:
            if lowered.startswith(prefix) and len(lowered) > len(prefix):
                extra_key = unquote(lowered[len(prefix) :])
                extra.setdefault(extra_key, [])
                extra[extra_key] += [v for v in headers.getall(key, []) if v not in extra[extra_key]]
    return User(name, groups, uid, extra)


def attributes_for(method: str, path: str, group: str = GROUP, version: str = VERSION) -> dict[str, Any]:
    """The SubjectAccessReview attributes of a request (spec minus the user) to ``group/version``."""
    verb = _RESOURCE_VERBS.get(method.upper(), method.lower())
    parts = [p for p in path.split("/") if p]
    if parts[:3] == ["apis", group, version] and len(parts) > 3:
        rest = parts[3:]
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource, name = rest[0], (rest[1] if len(rest) > 1 else "")
        attributes = {
            "verb": verb if name else ("list" if verb == "get" else verb),
            "group": group,
            "version": version,
            "resource": resource,
        }
        if namespace:
            attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        return {"resourceAttributes": attributes}
    plain_verb = "get" if method.upper() == "HEAD" else method.lower()
    return {"nonResourceAttributes": {"path": path, "verb": plain_verb}}


class DelegatedAuth:
    def __init__(
        self,
        config: DelegationConfig,
        authentication_client: RESTClient,
        authorization_client: RESTClient,
        *,
        group: str = GROUP,
        version: str = VERSION,
    ) -> None:
        self.config = config
        self.group, self.version = group, version
        self.authentication_client = authentication_client
        self.authorization_client = authorization_client
        self.sources = apply_flags(AuthSources(), config)
        # True once the ConfigMap was read, or when flags name both CAs and it is not needed.
        self.loaded = bool(config.client_ca_file and config.requestheader.client_ca_file)
        self._tokens: dict[str, tuple[float, User | None]] = {}
        self._decisions: dict[tuple[Any, ...], tuple[float, bool, str]] = {}

    # -- sources -------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the ConfigMap again; a failure keeps what was loaded and is logged."""
        try:
            configmap = await self.authentication_client.request("GET", CONFIGMAP_PATH)
            sources = sources_from_configmap(configmap.get("data") or {})
        except errors.StatusError as exc:
            log.warning("cannot read %s (%s); keeping the settings in force", CONFIGMAP_PATH, exc)
            return
        except (ValueError, OSError) as exc:
            log.warning("unusable %s (%s); keeping the settings in force", CONFIGMAP_PATH, exc)
            return
        try:
            self.sources = apply_flags(sources, self.config)
        except (ValueError, OSError) as exc:
            log.error("cannot load the CA files given by flags: %s", exc)
            return
        self.loaded = True

    # -- authentication ------------------------------------------------------------------

    async def authenticate(self, request: web.Request) -> User:
        """The caller; 401 Unauthorized when nothing vouches for them."""
        der = _peer_certificate(request)
        sources = self.sources
        if der is not None:
            user = self._from_certificate(der, request, sources)
            if user is not None:
                return user
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and header[7:].strip():
            user = await self._review_token(header[7:].strip())
            if user is not None:
                return user
        raise errors.unauthorized()

    def _from_certificate(self, der: bytes, request: web.Request, sources: AuthSources) -> User | None:
        if sources.requestheader_cas:
            try:
                proxy, _ = verify_client_certificate(der, sources.requestheader_cas)
            except CertificateRejected:
                pass
            else:
                if sources.allowed_names and proxy not in sources.allowed_names:
                    log.info("front proxy %r is not in requestheader-allowed-names", proxy)
                else:
                    user = user_from_headers(request.headers, sources)
                    if user is not None:
                        return user
        if sources.client_cas:
            try:
                name, groups = verify_client_certificate(der, sources.client_cas)
            except CertificateRejected as exc:
                log.info("rejected client certificate from %s: %s", request.remote, exc)
            else:
                return User(name, groups)
        return None

    async def _review_token(self, token: str) -> User | None:
        now = time.monotonic()
        cached = self._tokens.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            review = await self.authentication_client.request(
                "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body=body
            )
        except (errors.StatusError, OSError, TimeoutError) as exc:
            log.warning("TokenReview failed: %s", exc)
            return None  # not cached: the next request asks again
        status = review.get("status") or {}
        user = None
        if status.get("authenticated"):
            info = status.get("user") or {}
            user = User(
                info.get("username", ""),
                tuple(info.get("groups") or ()),
                info.get("uid", ""),
                info.get("extra") or {},
            )
        if len(self._tokens) > _CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[token] = (now + self.config.authentication_cache_ttl, user)
        return user

    # -- authorization -------------------------------------------------------------------

    async def authorize(self, user: User, method: str, path: str) -> tuple[bool, str]:
        if set(user.groups) & set(ALWAYS_ALLOW_GROUPS):
            return True, ""
        attributes = attributes_for(method, path, self.group, self.version)
        key = (user.name, user.groups, user.uid, json.dumps([user.extra, attributes], sort_keys=True))
        now = time.monotonic()
        cached = self._decisions.get(key)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups), **attributes}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = user.extra
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        try:
            review = await self.authorization_client.request(
                "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=body
            )
        except (errors.StatusError, OSError, TimeoutError) as exc:
            log.warning("SubjectAccessReview failed: %s", exc)
            return False, "the authorizer could not be reached"
        status = review.get("status") or {}
        allowed = bool(status.get("allowed")) and not status.get("denied")
        reason = str(status.get("reason") or "")
        ttl = self.config.authorization_allowed_ttl if allowed else self.config.authorization_denied_ttl
        if len(self._decisions) > _CACHE_LIMIT:
            self._decisions.clear()
        self._decisions[key] = (now + ttl, allowed, reason)
        return allowed, reason


def forbidden_message(
    user: User, method: str, path: str, reason: str, group: str = GROUP, version: str = VERSION
) -> str:
    """Upstream's Forbidden wording for a resource or a non-resource request."""
    attributes = attributes_for(method, path, group, version)
    suffix = f": {reason}" if reason else ""
    resource = attributes.get("resourceAttributes")
    if resource is None:
        verb = attributes["nonResourceAttributes"]["verb"]
        return f'forbidden: User "{user.name}" cannot {verb} path "{path}"{suffix}'
    what = f"{resource['resource']}.{group}"
    name = f' "{resource["name"]}"' if resource.get("name") else ""
    scope = (
        f' in the namespace "{resource["namespace"]}"'
        if resource.get("namespace")
        else " at the cluster scope"
    )
    return (
        f'{what}{name} is forbidden: User "{user.name}" cannot {resource["verb"]} '
        f'resource "{resource["resource"]}" in API group "{group}"{scope}{suffix}'
    )


def _peer_certificate(request: web.Request) -> bytes | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der or None
