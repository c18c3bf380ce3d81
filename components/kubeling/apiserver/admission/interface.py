"""What an admission plugin sees and what it may call.

Admission runs inside a write request: mutating plugins (``admit``) after the
body is decoded and defaulted, validating plugins (``validate``) after the
kind's own validation and before storage.  A plugin rejects a request by
raising :class:`kubeling.api.errors.StatusError`; it never writes to storage
itself.  Objects it needs to look at (LimitRanges, ServiceAccounts, quotas,
namespaces) come from a :class:`Lister`, which the apiserver serves from its
watch cache, so admission never blocks on etcd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kubeling.api.resources import Resource

CREATE = "CREATE"
UPDATE = "UPDATE"
DELETE = "DELETE"
CONNECT = "CONNECT"


@dataclass(frozen=True)
class Attributes:
    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    resource: Resource  # kubeling.api.resources.Resource
    subresource: str
    namespace: str
    name: str
    user: str
    groups: tuple[str, ...]
    dry_run: bool


class Lister(Protocol):  # the apiserver implements it over its watch cache
    def list(self, group: str, plural: str, namespace: str = "") -> list[dict]: ...

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict | None: ...


class MutatingPlugin(Protocol):
    name: str

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        """Mutate ``obj`` in place; raise errors.StatusError to reject."""
        ...


class ValidatingPlugin(Protocol):
    name: str

    async def validate(self, attrs: Attributes, obj: dict, old: dict | None) -> None: ...
