"""Service clusterIP and nodePort allocation, persisted in storage.

Each range is one key (``/registry/ranges/serviceips``,
``/registry/ranges/servicenodeports``) holding the set of allocated offsets.
Allocation is a compare-and-swap on that key, so concurrent creates — even on
several apiservers — never hand out the same value.
"""

from __future__ import annotations

import ipaddress
import random

import orjson

from kubeling.storage import KeyExistsError, RevisionMismatchError, Storage


class RangeFullError(Exception):
    pass


class AlreadyAllocatedError(Exception):
    pass


class OutOfRangeError(Exception):
    pass


class OffsetAllocator:
    """Allocates integer offsets in [0, size) recorded under one storage key."""

    def __init__(self, storage: Storage, key: str, size: int, *, reserved_low: int = 0) -> None:
        self._storage = storage
        self._key = key
        self._size = size
        # Upstream prefers dynamic allocations from above a small static band so
        # that well-known addresses (the DNS service's .10) stay free.
        self._reserved_low = reserved_low

    async def _read(self) -> tuple[set[int], int]:
        kv = await self._storage.get(self._key)
        if kv is None:
            return set(), 0
        return set(orjson.loads(kv.value)["allocated"]), kv.mod_revision

    async def _write(self, allocated: set[int], revision: int) -> bool:
        value = orjson.dumps({"size": self._size, "allocated": sorted(allocated)})
        try:
            if revision == 0:
                await self._storage.create(self._key, value)
            else:
                await self._storage.update(self._key, value, expected_revision=revision)
        except (KeyExistsError, RevisionMismatchError):
            return False
        return True

    async def allocate(self, offset: int | None = None) -> int:
        while True:
            allocated, revision = await self._read()
            if offset is not None:
                if not 0 <= offset < self._size:
                    raise OutOfRangeError(offset)
                if offset in allocated:
                    raise AlreadyAllocatedError(offset)
                chosen = offset
            else:
                chosen = self._pick(allocated)
            allocated.add(chosen)
            if await self._write(allocated, revision):
                return chosen

    def _pick(self, allocated: set[int]) -> int:
        if len(allocated) >= self._size:
            raise RangeFullError()
        low = self._reserved_low if self._size - self._reserved_low > len(allocated) else 0
        for _ in range(64):
            candidate = random.randrange(low, self._size)
            if candidate not in allocated:
                return candidate
        free = [i for i in range(low, self._size) if i not in allocated] or [
            i for i in range(self._size) if i not in allocated
        ]
        if not free:
            raise RangeFullError()
        return free[0]

    async def release(self, offset: int) -> None:
        while True:
            allocated, revision = await self._read()
            if offset not in allocated:
                return
            allocated.discard(offset)
            if await self._write(allocated, revision):
                return


class ServiceIPAllocator:
    def __init__(self, storage: Storage, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        # Skip the network address; usable offsets start at 1 (.1 = kubernetes service).
        size = min(self.network.num_addresses - 2, 1 << 20)
        band = min(max(16, size // 16), 256)
        self._offsets = OffsetAllocator(storage, "/registry/ranges/serviceips", size, reserved_low=band)

    def address(self, offset: int) -> str:
        return str(self.network.network_address + offset + 1)

    def offset(self, ip: str) -> int:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise OutOfRangeError(ip) from None
        if address not in self.network:
            raise OutOfRangeError(ip)
        return int(address) - int(self.network.network_address) - 1

    def nth(self, n: int) -> str:
        """The n-th address of the range (1 = first usable), as upstream numbers them."""
        return str(self.network.network_address + n)

    async def allocate(self, ip: str | None = None) -> str:
        offset = await self._offsets.allocate(None if ip is None else self.offset(ip))
        return self.address(offset)

    async def release(self, ip: str) -> None:
        try:
            await self._offsets.release(self.offset(ip))
        except OutOfRangeError:
            return


class NodePortAllocator:
    def __init__(self, storage: Storage, low: int = 30000, high: int = 32767) -> None:
        self.low = low
        self.high = high
        self._offsets = OffsetAllocator(storage, "/registry/ranges/servicenodeports", high - low + 1)

    async def allocate(self, port: int | None = None) -> int:
        return self.low + await self._offsets.allocate(None if port is None else port - self.low)

    async def release(self, port: int) -> None:
        if self.low <= port <= self.high:
            await self._offsets.release(port - self.low)
