"""An asyncio REST client for the Kubernetes API (JSON only).

One :class:`RESTClient` owns one aiohttp ``ClientSession`` (created lazily on
the running loop, closed by :meth:`RESTClient.close` or ``async with``), so
every request of a component shares its connection pool and TLS context.

Each request, in order:

1. takes a token from the client-side :class:`TokenBucket` (qps/burst),
2. sends with ``Authorization: Bearer`` (re-read per request, so rotated
   token files take effect) and ``User-Agent: kubeling/<version> (<component>)``,
3. on failure decides whether to retry.  Reads (get, list, the start of a
   watch) retry on 429, 500, 502, 503, 504 and connection errors; writes retry
   only when they surely did not take effect: 429 and a failed connect.  Waits
   honour ``Retry-After``, otherwise exponential backoff with jitter.

Non-2xx answers raise :class:`kubeling.api.errors.StatusError` built from the
server's ``metav1.Status`` body.  Connection errors that outlive the retries
surface as ``aiohttp.ClientError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from yarl import URL

from kubeling import __version__
from kubeling.api.errors import StatusError
from kubeling.client.flowcontrol import TokenBucket, backoff_delay
from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.paths import ResourceLike, resource_path, with_query

log = logging.getLogger(__name__)

Obj = dict[str, Any]

RETRYABLE_READ_CODES = frozenset({429, 500, 502, 503, 504})
PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_error(code: int, body: bytes) -> StatusError:
    """The StatusError for an error answer; non-Status bodies become their text."""
    try:
        status = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return status_error_from_dict(status, code)
    message = body.decode(errors="replace").strip() or f"the server responded with HTTP {code}"
    return StatusError(code, _REASONS.get(code, "Unknown"), message)


def status_error_from_dict(status: Obj, code: int = 0) -> StatusError:
    return StatusError(
        int(status.get("code") or code or 500),
        str(status.get("reason") or _REASONS.get(code, "Unknown")),
        str(status.get("message") or ""),
        status.get("details") or None,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from apiservers, use our own backoff


class RESTClient:
    def __init__(
        self,
        config: ClientConfig,
        *,
        component: str = "client",
        qps: float = 50.0,
        burst: int = 100,
        max_retries: int = 5,
        request_timeout: float = 60.0,
        rate_limiter: TokenBucket | None = None,
    ) -> None:
        self.config = config
        self.user_agent = f"kubeling/{__version__} ({component})"
        self.rate_limiter = rate_limiter or TokenBucket(qps=qps, burst=burst)
        self.max_retries = max_retries
        self.request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_context = self.config.ssl_context()
            # No connection cap: every informer keeps a watch open; the rate
            # limiter, not the pool, bounds the request rate.
            connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else False, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            )
        return self._session

    async def use_client_certificate(self, cert_pem: bytes, key_pem: bytes) -> None:
        """Authenticate every later request with a new client certificate (kubelet rotation).

        Open connections were authenticated with the old one, so they are all closed, as
        upstream's kubelet closes its connections after a rotation; requests in flight on
        them fail over to a retry, and watches end so their informers re-watch.
        """
        self.config.cert_data, self.config.key_data = cert_pem, key_pem
        self.config.cert_file = self.config.key_file = None
        old, self._session = self._session, None
        if old is not None:
            await old.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RESTClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- transport ---------------------------------------------------------------

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _open(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        read: bool,
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """Send with rate limiting and retries; return a 2xx response (caller releases it)."""
        attempt = 0
        while True:
            await self.rate_limiter.acquire()
            delay: float | None
            try:
                # Asked per attempt: a certificate rotation may have replaced the session meanwhile.
                response = await self._get_session().request(
                    method,
                    URL(self.config.server + path, encoded=True),
                    data=body,
                    headers=self._headers(content_type),
                    timeout=timeout,
                )
            except aiohttp.ClientConnectorError as exc:
                failure: Exception = exc  # never reached the server: safe for writes too
                delay = None
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                if not read:
                    raise
                failure, delay = exc, None
            else:
                if response.status < 300:
                    return response
                payload = await response.read()
                response.release()
                failure = status_error(response.status, payload)
                retryable = response.status == 429 or (read and response.status in RETRYABLE_READ_CODES)
                if not retryable:
                    raise failure
                delay = _retry_after(response.headers)
            if attempt >= self.max_retries:
                raise failure
            wait = delay if delay is not None else backoff_delay(attempt)
            log.debug("%s %s failed (%s); retry %d in %.2fs", method, path, failure, attempt + 1, wait)
            await asyncio.sleep(wait)
            attempt += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Obj:
        """One JSON request to a raw path; returns the decoded answer."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
        client_timeout = aiohttp.ClientTimeout(total=timeout or self.request_timeout, sock_connect=10)
        response = await self._open(
            method,
            path,
            body=data,
            content_type=content_type if data is not None else None,
            read=method == "GET",
            timeout=client_timeout,
        )
        async with response:
            payload = await response.read()
        return orjson.loads(payload) if payload else {}

    # -- verbs -------------------------------------------------------------------

    async def get(
        self,
        resource: ResourceLike,
        *,
        name: str,
        namespace: str | None = None,
        subresource: str | None = None,
        params: Mapping[str, str | int | bool | None] | None = None,
    ) -> Obj:
        path = resource_path(resource, namespace=namespace, name=name, subresource=subresource)
        return await self.request("GET", with_query(path, params or {}))

    async def list(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        path = resource_path(resource, namespace=namespace)
        params = {
            "labelSelector": label_selector or None,
            "fieldSelector": field_selector or None,
            "limit": limit or None,
            "continue": continue_token or None,
            "resourceVersion": resource_version,
        }
        return await self.request("GET", with_query(path, params))

    async def create(
        self,
        resource: ResourceLike,
        body: Obj,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """POST to the collection, or to ``<name>/<subresource>`` (binding, eviction, token)."""
        path = resource_path(resource, namespace=namespace, name=name, subresource=subresource)
        params = {"dryRun": "All" if dry_run else None, "fieldManager": field_manager}
        return await self.request("POST", with_query(path, params), body=body)

    async def update(
        self,
        resource: ResourceLike,
        body: Obj,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        """PUT the whole object; ``metadata.resourceVersion`` makes it conditional (409 when stale)."""
        target = name or body.get("metadata", {}).get("name")
        if not target:
            raise ValueError("update needs a name (argument or metadata.name)")
        path = resource_path(resource, namespace=namespace, name=target, subresource=subresource)
        params = {"dryRun": "All" if dry_run else None, "fieldManager": field_manager}
        return await self.request("PUT", with_query(path, params), body=body)

    async def patch(
        self,
        resource: ResourceLike,
        patch: Any,
        *,
        name: str,
        namespace: str | None = None,
        patch_type: str = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with ``patch_type`` json | merge | strategic | apply (apply needs field_manager)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}; one of {sorted(PATCH_TYPES)}")
        path = resource_path(resource, namespace=namespace, name=name, subresource=subresource)
        params = {"dryRun": "All" if dry_run else None, "fieldManager": field_manager, "force": force}
        return await self.request(
            "PATCH", with_query(path, params), body=patch, content_type=PATCH_TYPES[patch_type]
        )

    async def delete(
        self,
        resource: ResourceLike,
        *,
        name: str,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE one object; returns the server's answer (the object, or a Status)."""
        path = resource_path(resource, namespace=namespace, name=name)
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        if dry_run:
            options["dryRun"] = ["All"]
        return await self.request("DELETE", path, body=options)

    async def watch(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Yield ``(type, object)`` events until the server ends the stream.

        Types are ADDED, MODIFIED, DELETED and BOOKMARK; an ERROR event is
        raised as its StatusError (410 means: relist).  Only opening the
        stream is retried; a broken stream raises and the caller resumes from
        the last resourceVersion it saw.
        """
        path = resource_path(resource, namespace=namespace)
        params = {
            "watch": True,
            "resourceVersion": resource_version or None,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": allow_bookmarks or None,
            "labelSelector": label_selector or None,
            "fieldSelector": field_selector or None,
        }
        # No read deadline while idle: the server ends the stream at timeoutSeconds.
        idle = float(timeout_seconds) + 30.0 if timeout_seconds else None
        client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=idle)
        response = await self._open("GET", with_query(path, params), read=True, timeout=client_timeout)
        async with response:
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                # Events are newline-delimited JSON documents; a chunk may hold
                # several events or a part of one.
                while (end := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:end], buffer[end + 1 :]
                    if line.strip():
                        yield _event(line)
            if buffer.strip():
                yield _event(buffer)


def _event(line: bytes) -> tuple[str, Obj]:
    event = orjson.loads(line)
    kind, obj = event.get("type", ""), event.get("object") or {}
    if kind == "ERROR":
        raise status_error_from_dict(obj)
    return kind, obj
