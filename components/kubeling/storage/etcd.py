"""The etcd v3 backend: a thin client over ``grpc.aio`` and etcd's protobuf stubs.

The stubs are the generated ones shipped inside the ``aetcd`` package; its
high-level client is not used because it lacks TLS options, endpoint lists,
range limits and reads at a past revision.

Connections.  One gRPC channel per endpoint, created lazily inside the running
event loop (a channel belongs to the loop that made it).  Calls go to the
current endpoint; on UNAVAILABLE or a deadline the client moves to the next
endpoint and tries again, once round the list, then raises
``UnavailableError``.  A retried write may in rare cases have been applied by
the member that dropped the connection; every write here is guarded by a
revision comparison, so such a retry fails with KeyExists / RevisionMismatch
instead of writing twice.

Writes.  create is a txn "create_revision == 0 → put"; update and guarded
delete compare mod_revision and read the key back on failure, so the caller
learns whether it is gone (KeyNotFoundError) or moved on
(RevisionMismatchError carrying the current value).

Watches.  Each ``EtcdWatch`` owns one bidirectional Watch stream with one
server-side watcher (prefix range, prev_kv).  It remembers the revision after
the last event it delivered; when the stream breaks (member killed,
restarted, leader lost) it reopens from there on any endpoint, with backoff,
for up to ``watch_retry_timeout`` seconds before raising UnavailableError.
A start revision older than the compaction point ends the watch with
CompactedError.  ``close()`` cancels the server-side watcher explicitly:
merely abandoning the iterator would leak it on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
from aetcd.rpc import kv_pb2, rpc_pb2, rpc_pb2_grpc

from kubeling.storage.interface import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    StorageError,
    UnavailableError,
    WatchEvent,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_PORT = 2379

_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    # Large lists arrive as one Range response; gRPC's 4 MiB default is too small.
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Reconnect quickly after a member restarts (gRPC's default backoff grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # Notice half-open connections under idle watches; etcd permits pings every 5 s.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

# Codes meaning "this member cannot serve now; another may".
_TRY_NEXT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"

T = TypeVar("T")


class _OutOfRange(StorageError):
    """etcd's OUT_OF_RANGE: a revision below compaction or above the head."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.compacted = _COMPACTED in details
        self.future = _FUTURE in details


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    target: str  # host:port for gRPC
    secure: bool


def parse_endpoint(url: str, *, default_secure: bool = False) -> Endpoint:
    """``https://host:port`` → TLS, ``http://`` → plaintext, bare ``host:port`` → ``default_secure``."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    if parts.scheme not in ("", "http", "https"):
        raise ValueError(f"unsupported etcd endpoint scheme: {url}")
    if not parts.hostname:
        raise ValueError(f"etcd endpoint without a host: {url}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    secure = parts.scheme == "https" or (parts.scheme == "" and default_secure)
    return Endpoint(url=url, target=f"{host}:{parts.port or DEFAULT_PORT}", secure=secure)


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with prefix (b"\\0" = to the end)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _key_str(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def _kv(kv: kv_pb2.KeyValue) -> KeyValue:
    return KeyValue(
        key=_key_str(kv.key), value=kv.value, create_revision=kv.create_revision, mod_revision=kv.mod_revision
    )


class _Stubs:
    """The stubs of one channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.kv = rpc_pb2_grpc.KVStub(channel)
        self.watch = rpc_pb2_grpc.WatchStub(channel)
        self.lease = rpc_pb2_grpc.LeaseStub(channel)
        self.maintenance = rpc_pb2_grpc.MaintenanceStub(channel)


class EtcdStorage:
    """``Storage`` on an etcd v3 cluster.

    ``EtcdStorage(["https://10.0.0.1:2379", ...], ca_file=..., cert_file=..., key_file=...)``
    then ``await storage.open()`` (or ``await EtcdStorage.connect(...)``) inside the loop
    that will use it.
    """

    def __init__(
        self,
        endpoints: list[str],
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        request_timeout: float = 30.0,
        watch_retry_timeout: float = 30.0,
    ) -> None:
        if not endpoints:
            raise ValueError("EtcdStorage needs at least one endpoint")
        if bool(cert_file) != bool(key_file):
            raise ValueError("etcd client certificate and key must be given together")
        tls_files = bool(ca_file or cert_file)
        self._endpoints = [parse_endpoint(url, default_secure=tls_files) for url in endpoints]
        self._ca_file = ca_file
        self._cert_file = cert_file
        self._key_file = key_file
        self._credentials: grpc.ChannelCredentials | None = None
        self._stubs: dict[int, _Stubs] = {}
        self._current = 0
        self._watches: set[EtcdWatch] = set()
        self._closed = False
        self.request_timeout = request_timeout
        self.watch_retry_timeout = watch_retry_timeout

    @classmethod
    async def connect(
        cls,
        endpoints: list[str],
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        **options: float,
    ) -> EtcdStorage:
        storage = cls(endpoints, ca_file=ca_file, cert_file=cert_file, key_file=key_file, **options)
        try:
            await storage.open()
        except BaseException:
            await storage.close()
            raise
        return storage

    async def open(self) -> None:
        """Load the TLS material and check that some endpoint answers (UnavailableError if none)."""
        if any(endpoint.secure for endpoint in self._endpoints):
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=Path(self._ca_file).read_bytes() if self._ca_file else None,
                private_key=Path(self._key_file).read_bytes() if self._key_file else None,
                certificate_chain=Path(self._cert_file).read_bytes() if self._cert_file else None,
            )
        await self.current_revision()

    @property
    def endpoints(self) -> list[str]:
        return [endpoint.url for endpoint in self._endpoints]

    # -- connection handling ---------------------------------------------------

    def _stubs_for(self, index: int) -> _Stubs:
        if self._closed:
            raise StorageError("etcd storage is closed")
        stubs = self._stubs.get(index)
        if stubs is None:
            endpoint = self._endpoints[index]
            if endpoint.secure:
                if self._credentials is None:
                    raise StorageError("EtcdStorage.open() was not called")
                channel = grpc.aio.secure_channel(
                    endpoint.target, self._credentials, options=_CHANNEL_OPTIONS
                )
            else:
                channel = grpc.aio.insecure_channel(endpoint.target, options=_CHANNEL_OPTIONS)
            stubs = self._stubs[index] = _Stubs(channel)
        return stubs

    def _advance(self, failed: int) -> None:
        # Only move on if nobody else already did (concurrent failures of one member).
        if self._current == failed:
            self._current = (failed + 1) % len(self._endpoints)

    async def _with_failover(self, attempt: Callable[[_Stubs], Awaitable[T]]) -> T:
        """Run attempt on the current endpoint, then the others; map gRPC errors to storage errors."""
        failures: list[str] = []
        for _ in range(len(self._endpoints)):
            index = self._current
            try:
                return await attempt(self._stubs_for(index))
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code in _TRY_NEXT:
                    failures.append(f"{self._endpoints[index].url}: {code.name} {exc.details()}")
                    self._advance(index)
                    continue
                if code == grpc.StatusCode.OUT_OF_RANGE:
                    raise _OutOfRange(exc.details() or "") from None
                raise StorageError(f"etcd {code.name}: {exc.details()}") from None
        raise UnavailableError("no etcd endpoint available: " + "; ".join(failures))

    async def _range(self, request: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        return await self._with_failover(lambda s: s.kv.Range(request, timeout=self.request_timeout))

    async def _txn(self, request: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        return await self._with_failover(lambda s: s.kv.Txn(request, timeout=self.request_timeout))

    # -- reads -----------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        response = await self._range(rpc_pb2.RangeRequest(key=_key_bytes(key)))
        return _kv(response.kvs[0]) if response.kvs else None

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str | None = None
    ) -> ListResult:
        begin = _key_bytes(prefix) or b"\0"
        end = prefix_range_end(_key_bytes(prefix)) if prefix else b"\0"
        if start_key is not None:
            if not start_key.startswith(prefix):
                raise ValueError(f"start_key {start_key!r} is not under prefix {prefix!r}")
            begin = max(begin, _key_bytes(start_key))
        request = rpc_pb2.RangeRequest(
            key=begin, range_end=end, revision=max(revision, 0), limit=max(limit, 0)
        )
        try:
            response = await self._range(request)
        except _OutOfRange as exc:
            raise await self._revision_error(revision, exc) from None
        items = [_kv(kv) for kv in response.kvs]
        # count is the number of keys in [begin, end) at that revision, so the rest is count - returned.
        remaining = max(response.count - len(items), 0) if response.more else 0
        return ListResult(
            items=items,
            revision=revision or response.header.revision,
            more=response.more,
            remaining=remaining,
        )

    async def count(self, prefix: str) -> int:
        begin = _key_bytes(prefix) or b"\0"
        end = prefix_range_end(_key_bytes(prefix)) if prefix else b"\0"
        response = await self._range(rpc_pb2.RangeRequest(key=begin, range_end=end, count_only=True))
        return response.count

    async def current_revision(self) -> int:
        # A count-only read of one (absent) key is the cheapest linearizable way to learn the head.
        response = await self._range(rpc_pb2.RangeRequest(key=b"\0", count_only=True))
        return response.header.revision

    async def _revision_error(self, revision: int, exc: _OutOfRange) -> StorageError:
        if exc.compacted:
            return CompactedError(revision, await self.compacted_revision())
        if exc.future:
            return FutureRevisionError(revision, await self.current_revision())
        return StorageError(str(exc))

    async def compacted_revision(self) -> int:
        """The oldest revision still readable, learnt by watching from revision 1 (0 if unknown)."""
        watch = EtcdWatch(self, b"\0", b"", start_revision=1)
        try:
            # etcd answers "created", then (within its ~100 ms sync loop) "canceled" with the point.
            async with asyncio.timeout(2.0):
                await watch.start()
                async for _ in watch:
                    break
        except CompactedError as exc:
            return exc.compacted
        except (StorageError, TimeoutError):
            return 0
        finally:
            await watch.close()
        return 0

    # -- writes ------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        raw = _key_bytes(key)
        request = rpc_pb2.TxnRequest(
            compare=[
                rpc_pb2.Compare(
                    key=raw, target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.EQUAL, create_revision=0
                )
            ],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=raw, value=value))],
        )
        response = await self._txn(request)
        if not response.succeeded:
            raise KeyExistsError(key)
        return response.header.revision

    def _guard(self, raw: bytes, expected_revision: int) -> list[rpc_pb2.Compare]:
        return [
            # The key must exist (mod_revision of an absent key is 0, which must not match 0)...
            rpc_pb2.Compare(
                key=raw, target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.GREATER, create_revision=0
            ),
            # ...and must not have moved on.
            rpc_pb2.Compare(
                key=raw,
                target=rpc_pb2.Compare.MOD,
                result=rpc_pb2.Compare.EQUAL,
                mod_revision=expected_revision,
            ),
        ]

    def _lost_race(self, key: str, response: rpc_pb2.TxnResponse) -> StorageError:
        kvs = response.responses[0].response_range.kvs if response.responses else []
        if not kvs:
            return KeyNotFoundError(key)
        return RevisionMismatchError(key, _kv(kvs[0]))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        raw = _key_bytes(key)
        request = rpc_pb2.TxnRequest(
            compare=self._guard(raw, expected_revision),
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=raw, value=value))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=raw))],
        )
        response = await self._txn(request)
        if not response.succeeded:
            raise self._lost_race(key, response)
        return response.header.revision

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        raw = _key_bytes(key)
        delete_op = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=raw, prev_kv=True))
        if expected_revision is None:
            request = rpc_pb2.TxnRequest(success=[delete_op])
        else:
            request = rpc_pb2.TxnRequest(
                compare=self._guard(raw, expected_revision),
                success=[delete_op],
                failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=raw))],
            )
        response = await self._txn(request)
        if not response.succeeded:
            raise self._lost_race(key, response)
        prev_kvs = response.responses[0].response_delete_range.prev_kvs
        if not prev_kvs:
            raise KeyNotFoundError(key)
        prev = prev_kvs[0]
        return KeyValue(
            key=key,
            value=prev.value,
            create_revision=prev.create_revision,
            mod_revision=response.header.revision,
        )

    async def compact(self, revision: int) -> None:
        """Drop history below revision; compacting at or below the current point is a no-op."""
        request = rpc_pb2.CompactionRequest(revision=revision, physical=True)
        try:
            await self._with_failover(lambda s: s.kv.Compact(request, timeout=self.request_timeout))
        except _OutOfRange as exc:
            if exc.compacted:
                return
            raise await self._revision_error(revision, exc) from None

    # -- watch -------------------------------------------------------------------

    async def watch(self, prefix: str, *, start_revision: int, prev_kv: bool = True) -> EtcdWatch:
        begin = _key_bytes(prefix) or b"\0"
        end = prefix_range_end(_key_bytes(prefix)) if prefix else b"\0"
        if start_revision <= 0:
            start_revision = await self.current_revision() + 1
        watch = EtcdWatch(self, begin, end, start_revision=start_revision, prev_kv=prev_kv)
        self._watches.add(watch)
        try:
            await watch.start()
        except BaseException:
            await watch.close()
            raise
        return watch

    async def close(self) -> None:
        for watch in list(self._watches):
            await watch.close()
        self._closed = True
        stubs, self._stubs = self._stubs, {}
        for entry in stubs.values():
            await entry.channel.close()


class EtcdWatch:
    """One server-side watcher that survives broken streams.  Iterate once; ``close()`` when done."""

    def __init__(
        self, storage: EtcdStorage, key: bytes, range_end: bytes, *, start_revision: int, prev_kv: bool = True
    ) -> None:
        self._storage = storage
        self._prev_kv = prev_kv
        self._key = key
        self._range_end = range_end
        self.start_revision = start_revision
        self.next_revision = start_revision  # the revision to resume from
        self._call: grpc.aio.StreamStreamCall | None = None
        self._watch_id: int | None = None
        self._error: StorageError | None = None  # found while starting, raised when iterated
        self._closed = False

    async def start(self) -> None:
        try:
            await self._open()
        except CompactedError as exc:
            # The contract raises compaction while iterating; keep it until then.
            self._error = exc

    async def _open(self) -> None:
        """Create the server-side watcher from next_revision on some endpoint."""
        storage = self._storage
        create = rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(
                key=self._key,
                range_end=self._range_end,
                start_revision=self.next_revision,
                prev_kv=self._prev_kv,
            )
        )
        failures: list[str] = []
        for _ in range(len(storage._endpoints)):
            index = storage._current
            call = storage._stubs_for(index).watch.Watch()
            try:
                async with asyncio.timeout(storage.request_timeout):
                    await call.write(create)
                    response = await call.read()
            except (grpc.aio.AioRpcError, TimeoutError) as exc:
                call.cancel()
                code = (
                    exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.DEADLINE_EXCEEDED
                )
                if code in _TRY_NEXT:
                    failures.append(f"{storage._endpoints[index].url}: {code.name}")
                    storage._advance(index)
                    continue
                raise StorageError(f"etcd watch failed: {code.name}") from None
            if response is grpc.aio.EOF or not response.created:
                call.cancel()
                failures.append(f"{storage._endpoints[index].url}: watch not created")
                storage._advance(index)
                continue
            if response.compact_revision:
                call.cancel()
                raise CompactedError(self.next_revision, response.compact_revision)
            if response.canceled:
                call.cancel()
                raise StorageError(f"etcd refused the watch: {response.cancel_reason}")
            if self._closed:  # close() ran while we were connecting
                call.cancel()
                return
            self._call, self._watch_id = call, response.watch_id
            return
        raise UnavailableError("cannot open etcd watch: " + "; ".join(failures))

    async def _resume(self, reason: str) -> None:
        """Reopen from next_revision, backing off, until watch_retry_timeout runs out."""
        if self._call is not None:
            self._call.cancel()
            self._call = None
        log.info("etcd watch broke (%s); resuming from revision %d", reason, self.next_revision)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._storage.watch_retry_timeout
        delay = 0.1
        while not self._closed:
            try:
                await self._open()
                return
            except UnavailableError:
                if loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[WatchEvent]:
        if self._error is not None:
            raise self._error
        while not self._closed:
            call = self._call
            if call is None:
                await self._resume("no stream")
                continue
            try:
                response = await call.read()
            except asyncio.CancelledError:
                # close() cancels the call under us: that ends iteration; a cancelled task still raises.
                task = asyncio.current_task()
                if self._closed and not (task and task.cancelling()):
                    return
                raise
            except grpc.aio.AioRpcError as exc:
                if self._closed:
                    return
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    raise StorageError(f"etcd watch failed: {exc.details()}") from None
                await self._resume(f"{exc.code().name} {exc.details()}")
                continue
            if response is grpc.aio.EOF:
                if self._closed:
                    return
                await self._resume("stream ended")
                continue
            if response.compact_revision:
                raise CompactedError(self.next_revision, response.compact_revision)
            if response.canceled:
                if self._closed:
                    return
                if response.cancel_reason and "leader" not in response.cancel_reason:
                    raise StorageError(f"etcd cancelled the watch: {response.cancel_reason}")
                await self._resume(response.cancel_reason or "cancelled by server")
                continue
            for event in response.events:
                self.next_revision = event.kv.mod_revision + 1
                yield _event(event)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._storage._watches.discard(self)
        call, self._call = self._call, None
        if call is None:
            return
        if self._watch_id is not None and not call.done():
            # Tell etcd to drop the watcher; the cancel below only ends our half of the stream.
            cancel = rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=self._watch_id))
            with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError, asyncio.InvalidStateError):
                async with asyncio.timeout(1.0):
                    await call.write(cancel)
        call.cancel()


def _event(event: kv_pb2.Event) -> WatchEvent:
    prev = _kv(event.prev_kv) if event.HasField("prev_kv") else None
    if event.type == kv_pb2.Event.DELETE:
        kv = KeyValue(
            key=_key_str(event.kv.key), value=b"", create_revision=0, mod_revision=event.kv.mod_revision
        )
        return WatchEvent(type=EventType.DELETE, kv=kv, prev_kv=prev)
    return WatchEvent(type=EventType.PUT, kv=_kv(event.kv), prev_kv=prev)
