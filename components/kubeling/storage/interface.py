"""The storage contract every backend implements.

The apiserver stores each object as one key (``/registry/<group>/<resource>/
<namespace>/<name>``) whose value is the object's JSON.  The backend owns a
single monotonically increasing revision counter; every write bumps it and
the object's ``resourceVersion`` is the revision of its last write (etcd's
mod_revision).  That is what lets a watch resume exactly where a list left off.

All methods are coroutines; a backend instance belongs to the event loop that
opened it.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """Base of every storage failure."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class RevisionMismatchError(StorageError):
    """A guarded write lost the race: the key's mod revision moved on."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(f"revision mismatch on {key}")
        self.key = key
        self.current = current


class CompactedError(StorageError):
    """The requested revision is older than the oldest one kept."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (oldest kept: {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """A read asked for a revision newer than the store has."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is in the future (current: {current})")
        self.requested = requested
        self.current = current


class UnavailableError(StorageError):
    """The datastore cannot be reached (every endpoint failed)."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the store revision the list was read at
    more: bool  # True when a limit cut the range short
    remaining: int  # keys in the range after the last returned one (0 when unknown or none)


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    # For PUT: the new key/value.  For DELETE: key and mod_revision (the
    # deletion's revision) are set, value is b"".
    kv: KeyValue
    prev_kv: KeyValue | None  # the value before this event (set for DELETE unless watched with prev_kv=False)


class Watch(Protocol):
    """An open watch.  Iterate it for events; close it when done.

    Raises CompactedError while iterating when its start revision has been
    compacted away; raises UnavailableError when the stream cannot be resumed.
    """

    def __aiter__(self) -> AsyncIterator[WatchEvent]: ...

    async def close(self) -> None: ...


class Storage(Protocol):
    async def get(self, key: str) -> KeyValue | None: ...

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,  # 0 = latest
        limit: int = 0,  # 0 = no limit
        start_key: str | None = None,  # inclusive; must lie under prefix
    ) -> ListResult: ...

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes) -> int:
        """Create key if absent; return the new revision.  KeyExistsError otherwise."""
        ...

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Write key if its mod revision is still expected_revision; return the new revision.

        KeyNotFoundError when absent, RevisionMismatchError (carrying the current
        value) when it moved on.
        """
        ...

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        """Delete key (guarded when expected_revision is given); return the deleted
        value with mod_revision set to the deletion's revision."""
        ...

    async def watch(self, prefix: str, *, start_revision: int, prev_kv: bool = True) -> Watch:
        """Watch every key under prefix for events with revision >= start_revision.

        ``prev_kv=False`` lets a backend leave ``prev_kv`` out of events (a
        watcher that keeps every value itself need not be sent them twice).
        """
        ...

    async def current_revision(self) -> int: ...

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...
