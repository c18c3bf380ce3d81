"""Calls to the apiserver made as the logged-in user, with the user's bearer token.

The dashboard never lends its own rights: every page, action and live stream
goes through a :class:`UserAPI` holding the user's token, so the apiserver's
RBAC decides what they may see and do. One aiohttp session (the apiserver's
address and CA from the dashboard's own client config) carries all users'
requests; the token travels per request. (kubeling.client.RESTClient binds one
identity per client and answers JSON only; here each request may also ask
for a Table or read a raw stream.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from yarl import URL

from kubeling import __version__
from kubeling.api.errors import StatusError
from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.rest import status_error

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


class APIConnection:
    """The shared transport to the apiserver (no identity of its own)."""

    def __init__(self, config: ClientConfig) -> None:
        self.server = config.server.rstrip("/")
        self._ssl = _server_only(config)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=0),
                headers={"User-Agent": f"kubeling/{__version__} (dashboard)"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def as_user(self, token: str) -> UserAPI:
        return UserAPI(self, token)


def _server_only(config: ClientConfig) -> Any:
    """The TLS context that trusts the apiserver, carrying no client certificate of ours."""
    stripped = ClientConfig(
        server=config.server,
        ca_file=config.ca_file,
        ca_data=config.ca_data,
        insecure_skip_tls_verify=config.insecure_skip_tls_verify,
    )
    return stripped.ssl_context()


class UserAPI:
    def __init__(self, connection: APIConnection, token: str) -> None:
        self.connection = connection
        self.token = token

    def _headers(self, accept: str = "application/json", content_type: str = "") -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One request; a non-2xx answer raises its StatusError (403's message as the apiserver said it)."""
        data = orjson.dumps(body) if body is not None else None
        url = URL(self.connection.server + path, encoded=True)
        if params:
            url = url.with_query(params)
        async with self.connection.session().request(
            method,
            url,
            data=data,
            headers=self._headers(accept, content_type if data is not None else ""),
            timeout=_TIMEOUT,
        ) as response:
            payload = await response.read()
            if response.status >= 300:
                raise status_error(response.status, payload)
        return orjson.loads(payload) if payload else {}

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return await self.request("GET", path, params={k: v for k, v in params.items() if v} or None)

    async def table(self, path: str, **params: str) -> dict[str, Any]:
        return await self.request(
            "GET", path, accept=TABLE, params={k: v for k, v in params.items() if v} or None
        )

    async def lines(self, path: str, params: dict[str, str]) -> AsyncIterator[bytes]:
        """The lines of a streaming answer (a watch, a followed log) as they arrive."""
        url = URL(self.connection.server + path, encoded=True).with_query(params)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with self.connection.session().get(url, headers=self._headers(), timeout=timeout) as response:
            if response.status >= 300:
                raise status_error(response.status, await response.read())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:end], buffer[end + 1 :]
                    yield line
            if buffer:
                yield buffer

    async def can_i(self, verb: str, resource: str, *, group: str = "", namespace: str = "") -> bool:
        """A SelfSubjectAccessReview: may this user do ``verb`` on ``resource``?"""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "verb": verb, "group": group, "resource": resource, "namespace": namespace,
                }
            },
        }  # fmt: skip
        try:
            answer = await self.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
            )
        except StatusError:
            return False
        return bool((answer.get("status") or {}).get("allowed"))

    async def whoami(self) -> str:
        """The username the apiserver sees for this token; 401 (StatusError) when it sees nobody."""
        answer = await self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        return str(((answer.get("status") or {}).get("userInfo") or {}).get("username") or "")
