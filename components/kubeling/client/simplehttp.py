"""A minimal JSON-over-HTTPS caller for the lease and event adapters.

It exists so leader election and the event recorder can be tested against a
real apiserver before the shared REST client is wired in: one aiohttp
session, a bearer token, the cluster CA, and Kubernetes error bodies turned
back into :class:`~kubeling.api.errors.StatusError`.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from kubeling.api.errors import StatusError


class SimpleHTTP:
    def __init__(self, server: str, *, token: str | None = None, ca_file: str | Path | None = None) -> None:
        self.server = server.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._session.request(
            method,
            self.server + path,
            data=data,
            headers=headers,
            ssl=self._ssl,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            payload: dict[str, Any] = json.loads(text) if text else {}
            if response.status >= 400:
                raise StatusError(
                    response.status,
                    str(payload.get("reason", "")),
                    str(payload.get("message", text)),
                    payload.get("details"),
                )
            return payload

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
