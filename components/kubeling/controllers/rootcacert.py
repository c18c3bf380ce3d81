"""The root CA publisher: a ``kube-root-ca.crt`` ConfigMap with the cluster CA in every namespace.

Pods mount it (with their projected ServiceAccount token) to verify the API
server.  The ConfigMap is re-created when deleted and put back when edited;
the CA comes from ``--root-ca-file``, and the controller is idle without one.
"""

from __future__ import annotations

from pathlib import Path

from kubeling.api.errors import StatusError
from kubeling.client.store import Obj
from kubeling.controllers.base import Controller, ControllerContext
from kubeling.controllers.resources import CONFIGMAPS, NAMESPACES

CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"


class RootCACertPublisher(Controller):
    name = "root-ca-certificate-publisher-controller"
    service_account = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        path = self.options.root_ca_file
        self.ca = Path(path).read_text() if path else ""
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.configmaps = self.informer(CONFIGMAPS)
        self.configmaps.add_event_handler(
            on_update=lambda _old, new: self._configmap_changed(new), on_delete=self._configmap_changed
        )

    def _configmap_changed(self, configmap: Obj) -> None:
        meta = configmap["metadata"]
        if meta["name"] == CONFIGMAP_NAME:
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> None:
        if not self.ca:
            return
        namespace = self.namespaces.store.get(key)
        if namespace is None or (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        current = self.configmaps.store.get_by(name=CONFIGMAP_NAME, namespace=key)
        data = {DATA_KEY: self.ca}
        try:
            if current is None:
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP_NAME}}
                await self.client.create(CONFIGMAPS, {**body, "data": data}, namespace=key)
            elif current.get("data") != data:
                updated = {**current, "data": data}
                await self.client.update(CONFIGMAPS, updated, namespace=key)
        except StatusError as exc:
            if exc.code not in (403, 404, 409) or (exc.code == 409 and current is not None):
                raise  # a stale update retries; a lost create race or a vanishing namespace does not
