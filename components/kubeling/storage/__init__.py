"""Datastores behind the apiserver.

``interface`` holds the contract; ``etcd`` is the production backend (etcd v3
over gRPC) and ``sqlite`` the embedded single-file one for single-node
servers.  ``open_storage`` picks one from a URL-ish config.
"""

from kubeling.storage.interface import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    Storage,
    StorageError,
    UnavailableError,
    Watch,
    WatchEvent,
)

__all__ = [
    "CompactedError",
    "EventType",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "ListResult",
    "RevisionMismatchError",
    "Storage",
    "StorageError",
    "UnavailableError",
    "Watch",
    "WatchEvent",
]
