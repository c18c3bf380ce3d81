"""The ServiceAccount controller: a ``default`` ServiceAccount in every active namespace.

Namespaces are the keys; a namespace is synced when it appears and when its
``default`` ServiceAccount is deleted, so a deleted one comes back, as
upstream's serviceaccounts-controller does.
"""

from __future__ import annotations

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.resources import NAMESPACES, SERVICEACCOUNTS

DEFAULT_SERVICE_ACCOUNTS = ("default",)


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"
    service_account = "service-account-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.service_accounts = self.informer(SERVICEACCOUNTS)
        self.service_accounts.add_event_handler(on_delete=self._service_account_deleted)

    def _service_account_deleted(self, sa: Obj) -> None:
        meta = sa["metadata"]
        if meta["name"] in DEFAULT_SERVICE_ACCOUNTS:
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.store.get(key)
        if namespace is None or (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        for name in DEFAULT_SERVICE_ACCOUNTS:
            if self.service_accounts.store.get_by(name=name, namespace=key) is not None:
                continue
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
            try:
                await self.client.create(SERVICEACCOUNTS, body, namespace=key)
            except StatusError as exc:
                # 409: it exists (our cache lags); 403/404: the namespace is going away.
                if exc.code not in (409, 403, 404):
                    raise
