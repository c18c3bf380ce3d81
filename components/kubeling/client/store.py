"""An indexed in-memory cache of API objects, keyed ``namespace/name``.

The store is what informers fill and what controllers read.  It is safe for
asyncio by construction: no method awaits, so each call runs to completion
without another task seeing a half-updated index.  (It is not for use across
threads.)

Indexers are functions ``obj -> list of index values``; ``by_namespace`` is
always present.  Each indexer keeps ``value -> set of keys`` up to date on
every add, update and delete, so ``by_index`` costs one dict lookup.

Objects in the store are shared with every reader and event handler: they are
read-only.  Copy (``copy.deepcopy``) before changing one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]

BY_NAMESPACE = "by_namespace"


def key_of(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name", "")
    return f"{namespace}/{name}" if namespace else name


def namespace_index(obj: Obj) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace") or ""]


class Store:
    def __init__(self, *, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {BY_NAMESPACE: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {BY_NAMESPACE: {}}
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    # -- indexers ----------------------------------------------------------------

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Register an index; objects already stored are indexed at once."""
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name] = func
        self._indices[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj)

    def _index_one(self, name: str, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _unindex_one(self, name: str, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]  # keep index_values() free of empty entries

    # -- writes ------------------------------------------------------------------

    def upsert(self, obj: Obj) -> Obj | None:
        """Add or replace an object; return the previous version (None if new)."""
        key = key_of(obj)
        old = self._items.get(key)
        for name in self._indexers:
            if old is not None:
                self._unindex_one(name, key, old)
            self._index_one(name, key, obj)
        self._items[key] = obj
        return old

    def delete(self, obj_or_key: Obj | str) -> Obj | None:
        """Remove an object; return the last stored version (None if absent)."""
        key = obj_or_key if isinstance(obj_or_key, str) else key_of(obj_or_key)
        old = self._items.pop(key, None)
        if old is not None:
            for name in self._indexers:
                self._unindex_one(name, key, old)
        return old

    def replace(self, objects: Iterable[Obj]) -> tuple[list[Obj], list[tuple[Obj, Obj]], list[Obj]]:
        """Make the store hold exactly ``objects``.

        Returns ``(added, updated as (old, new), deleted)``; deleted objects are
        the last versions the store knew (tombstones).
        """
        fresh = {key_of(obj): obj for obj in objects}
        deleted = [self.delete(key) for key in [k for k in self._items if k not in fresh]]
        added: list[Obj] = []
        updated: list[tuple[Obj, Obj]] = []
        for obj in fresh.values():
            old = self.upsert(obj)
            if old is None:
                added.append(obj)
            else:
                updated.append((old, obj))
        return added, updated, [obj for obj in deleted if obj is not None]

    # -- reads -------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by(self, *, name: str, namespace: str | None = None) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, name: str, value: str) -> list[Obj]:
        """Objects whose indexer ``name`` yields ``value`` (sorted by key for stable output)."""
        if name not in self._indices:
            raise KeyError(f"no indexer {name!r}")
        return [self._items[key] for key in sorted(self._indices[name].get(value, ()))]

    def index_values(self, name: str) -> list[str]:
        if name not in self._indices:
            raise KeyError(f"no indexer {name!r}")
        return sorted(self._indices[name])
