"""What the admission chain needs from the apiserver: a lister and a charger.

The lister reads the watch cache (in each resource's preferred version); the
charger adds a request's usage to a ResourceQuota's ``status.used`` with a
guarded write, refusing when a positive entry would pass ``spec.hard`` — so
two concurrent creates can never both take the last slot.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kubeling.api import errors
from kubeling.apiserver.admission.common import format_quantity, quantity

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer


class CacheLister:
    def __init__(self, server: APIServer) -> None:
        self._server = server

    def _resource(self, group: str, plural: str):
        return self._server.registry.preferred(group, plural)

    def list(self, group: str, plural: str, namespace: str = "") -> list[dict]:
        resource = self._resource(group, plural)
        if resource is None or self._server.cache is None:
            return []
        return self._server.store_for(resource).snapshot(namespace)

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict | None:
        return self._server.lookup(group, plural, namespace, name)


def quota_charger(server: APIServer):
    async def charge(namespace: str, quota_name: str, delta: dict[str, str]) -> bool:
        from kubeling.apiserver.store import WriteContext

        quotas = server.store("", "v1", "resourcequotas")
        refused = False

        def add_usage(current: dict[str, Any]) -> dict[str, Any]:
            nonlocal refused
            hard = (current.get("spec") or {}).get("hard") or {}
            status = current.setdefault("status", {})
            used = dict(status.get("used") or {})
            for name, text in delta.items():
                change = quantity(text) or Decimal(0)
                now = (quantity(used.get(name)) or Decimal(0)) + change
                limit = quantity(hard.get(name))
                if change > 0 and limit is not None and now > limit:
                    refused = True
                    raise _Refused()
                used[name] = format_quantity(max(now, Decimal(0)), name)
            status["used"] = used
            current["metadata"]["resourceVersion"] = ""
            return current

        ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver", subresource="status")
        try:
            await quotas.guaranteed_update(namespace, quota_name, add_usage, ctx)
        except _Refused:
            return False
        except errors.StatusError as exc:
            if exc.code == 404:
                return True  # the quota went away: nothing to charge
            raise
        return not refused

    return charge


class _Refused(Exception):
    pass
