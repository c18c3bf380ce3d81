"""Expectations: how many creates and deletes a controller is still waiting to see.

A controller that creates five pods must not create five more when it syncs
again before its informer has seen the first five.  Before writing it
records ``expect_creations(key, 5)``; the informer's add handler calls
``creation_observed(key)`` for each pod it sees; a sync acts only when
``satisfied(key)`` — every expected event seen, or the expectation older
than five minutes (an event was lost; upstream's ExpectationsTimeout).  A
create that failed is "observed" at once by the caller, since its event
will never come.  Deletes work the same way, tracked by the deleted
objects' keys so a delete seen twice counts once; ``expect`` records both
at once for a controller that creates and deletes in the same sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubeling.client.clock import Clock, RealClock

EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class _Expectation:
    adds: int
    deletes: set[str]
    stamp: float


class Expectations:
    def __init__(self, *, clock: Clock | None = None, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self._clock: Clock = clock or RealClock()
        self._timeout = timeout
        self._by_key: dict[str, _Expectation] = {}

    def expect(self, key: str, *, creations: int = 0, deletions: Iterable[str] = ()) -> None:
        """Record creates and deletes issued together (DaemonSets do both in one sync)."""
        self._by_key[key] = _Expectation(adds=creations, deletes=set(deletions), stamp=self._clock.now())

    def expect_creations(self, key: str, count: int) -> None:
        self.expect(key, creations=count)

    def expect_deletions(self, key: str, deleted_keys: list[str]) -> None:
        self.expect(key, deletions=deleted_keys)

    def creation_observed(self, key: str) -> None:
        expectation = self._by_key.get(key)
        if expectation is not None and expectation.adds > 0:
            expectation.adds -= 1

    def deletion_observed(self, key: str, deleted_key: str) -> None:
        expectation = self._by_key.get(key)
        if expectation is not None:
            expectation.deletes.discard(deleted_key)

    def satisfied(self, key: str) -> bool:
        expectation = self._by_key.get(key)
        if expectation is None:
            return True  # nothing recorded yet (new controller, or after a restart)
        if expectation.adds <= 0 and not expectation.deletes:
            return True
        return self._clock.now() - expectation.stamp > self._timeout

    def delete(self, key: str) -> None:
        """Forget the key (its owner was deleted)."""
        self._by_key.pop(key, None)
