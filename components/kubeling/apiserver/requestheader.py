"""Request-header (front-proxy) authentication, and the ConfigMap that publishes its setup.

A front proxy — kube-aggregator in front of an extension apiserver, or an
authenticating proxy in front of this one — proves who it is with a client
certificate signed by ``--requestheader-client-ca-file`` whose CN is in
``--requestheader-allowed-names`` (any CN when that list is empty), and then
names the user it vouches for in headers: the first non-empty
``--requestheader-username-headers`` value is the user, every value of every
``--requestheader-group-headers`` header is a group, and each header starting
with a ``--requestheader-extra-headers-prefix`` adds an extra (its key
lowercased and URL-unescaped, as upstream).

Like upstream this authenticator runs before the x509 and token ones; a
request it does not recognise (no certificate, no user header) or rejects
(wrong CA, a CN not allowed) falls through to them, so the usual 401 follows
when nothing else vouches for the caller.

:func:`extension_apiserver_authentication` builds the data of
``kube-system/extension-apiserver-authentication``, from which extension
apiservers (metrics-server) learn which CA to trust for client certificates
and for front-proxy requests, and which headers carry the user.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from multidict import CIMultiDict, CIMultiDictProxy

from kubeling.apiserver.clientcerts import CertificateRejected, load_client_cas, verify_client_certificate
from kubeling.apiserver.store import WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer
    from kubeling.apiserver.config import APIServerConfig

log = logging.getLogger(__name__)

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"


@dataclass(frozen=True)
class RequestHeaderConfig:
    client_ca_file: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ()
    group_headers: tuple[str, ...] = ()
    extra_headers_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Asserted:
    """The user a front proxy vouches for."""

    name: str
    groups: tuple[str, ...]
    extra: dict[str, list[str]]


def asserted_user(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], config: RequestHeaderConfig
) -> Asserted | None:
    """The user the headers name, or None when no username header has a value."""
    getall = headers.getall
    name = ""
    for header in config.username_headers:
        name = next((v.strip() for v in getall(header, []) if v.strip()), "")
        if name:
            break
    if not name:
        return None
    groups: list[str] = []
    for header in config.group_headers:
        groups += [v for v in getall(header, []) if v]
    extra: dict[str, list[str]] = {}
    for key in headers:
        for prefix in config.extra_headers_prefixes:
            if prefix and key.lower().startswith(prefix.lower()):
                extra_key = unquote(key[len(prefix) :]).lower()
                if extra_key and extra_key not in extra:
                    extra[extra_key] = list(getall(key, []))
    return Asserted(name, tuple(groups), extra)


class RequestHeaderAuthenticator:
    """Trusts identity headers only from a client certificate of the request-header CA."""

    def __init__(self, config: RequestHeaderConfig) -> None:
        self.config = config
        self.cas: list[x509.Certificate] = load_client_cas(config.client_ca_file)

    def authenticate(self, request: web.Request) -> Asserted | None:
        asserted = asserted_user(request.headers, self.config)
        if asserted is None:
            return None
        der = _peer_certificate(request)
        if der is None:
            return None
        try:
            proxy_name, _ = verify_client_certificate(der, self.cas)
        except CertificateRejected as exc:
            log.debug("request-header authentication skipped for %s: %s", request.remote, exc)
            return None
        if self.config.allowed_names and proxy_name not in self.config.allowed_names:
            log.info(
                "request-header authentication refused for %s: CN %r is not in --requestheader-allowed-names",
                request.remote,
                proxy_name,
            )
            return None
        return asserted


def _peer_certificate(request: web.Request) -> bytes | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True) or None


def _json_list(values: tuple[str, ...] | list[str]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def extension_apiserver_authentication(
    client_ca_file: str, requestheader: RequestHeaderConfig | None
) -> dict[str, str]:
    """The ConfigMap data extension apiservers read (keys and JSON-list values as upstream)."""
    data: dict[str, str] = {}
    if client_ca_file:
        data["client-ca-file"] = Path(client_ca_file).read_text()
    if requestheader is not None:
        data["requestheader-client-ca-file"] = Path(requestheader.client_ca_file).read_text()
        data["requestheader-allowed-names"] = _json_list(requestheader.allowed_names)
        data["requestheader-username-headers"] = _json_list(requestheader.username_headers)
        data["requestheader-group-headers"] = _json_list(requestheader.group_headers)
        data["requestheader-extra-headers-prefix"] = _json_list(requestheader.extra_headers_prefixes)
    return data


async def publish(server: APIServer) -> None:
    """Create or update ``kube-system/extension-apiserver-authentication`` from the flags."""
    config = server.config
    data = extension_apiserver_authentication(config.client_ca_file, request_header_config(config))
    if not data:
        return
    store = server.store("", "v1", "configmaps")
    ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver")

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        current["data"] = data
        return current

    def fresh() -> dict[str, Any]:
        return {"metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE}, "data": {}}

    await store.guaranteed_update(CONFIGMAP_NAMESPACE, CONFIGMAP_NAME, mutate, ctx, create_if_missing=fresh)


def request_header_config(config: APIServerConfig) -> RequestHeaderConfig | None:
    """The request-header settings the flags give, or None without ``--requestheader-client-ca-file``."""
    if not config.requestheader_client_ca_file:
        return None
    return RequestHeaderConfig(
        client_ca_file=config.requestheader_client_ca_file,
        allowed_names=tuple(config.requestheader_allowed_names),
        username_headers=tuple(config.requestheader_username_headers),
        group_headers=tuple(config.requestheader_group_headers),
        extra_headers_prefixes=tuple(config.requestheader_extra_headers_prefix),
    )
