"""Per-controller credentials: each controller acts as its own ServiceAccount.

With ``--use-service-account-credentials`` (the default here, as kubeadm
sets it upstream), controller-manager uses its own identity
(``system:kube-controller-manager``) only for shared informers, leader
election and for making a ServiceAccount ``kube-system/<controller>`` per
controller.  Each controller then talks to the API with a token of that
ServiceAccount from the TokenRequest API, so it holds exactly the rights of
its bootstrap ``system:controller:<name>`` ClusterRole and its writes are
audited under its own name.  Tokens last an hour and are re-requested when
80 % of that has passed; the client's config is updated in place, so
requests in flight are not disturbed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from kubeling.api.errors import StatusError
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ClientSource
from kubeling.controllers.resources import SERVICEACCOUNTS

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
TOKEN_SECONDS = 3600


class ServiceAccountClients(ClientSource):
    def __init__(self, root: RESTClient, *, qps: float = 20.0, burst: int = 30) -> None:
        super().__init__(root)
        self.qps = qps
        self.burst = burst
        self._clients: dict[str, RESTClient] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def prepare(self, service_accounts: list[str]) -> None:
        """Make sure each ServiceAccount exists and get a client with its token."""
        for name in service_accounts:
            if name in self._clients:
                continue
            await self._ensure_service_account(name)
            token = await self._request_token(name)
            config = dataclasses.replace(
                self.root.config,
                token=token,
                token_file=None,
                cert_file=None,
                cert_data=None,
                key_file=None,
                key_data=None,
            )
            self._clients[name] = RESTClient(config, component=name, qps=self.qps, burst=self.burst)
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop(), name="sa-token-refresh")

    def client_for(self, service_account: str) -> RESTClient:
        client = self._clients.get(service_account)
        if client is None:
            raise KeyError(f"no credentials prepared for ServiceAccount {NAMESPACE}/{service_account}")
        return client

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        for client in self._clients.values():
            await client.close()
        self._clients.clear()  # the root client belongs to the manager

    async def _ensure_service_account(self, name: str) -> None:
        try:
            await self.root.get(SERVICEACCOUNTS, name=name, namespace=NAMESPACE)
            return
        except StatusError as exc:
            if exc.code != 404:
                raise
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        try:
            await self.root.create(SERVICEACCOUNTS, body, namespace=NAMESPACE)
        except StatusError as exc:
            if exc.code != 409:
                raise

    async def _request_token(self, name: str) -> str:
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS},
        }
        answer = await self.root.create(
            SERVICEACCOUNTS, request, namespace=NAMESPACE, name=name, subresource="token"
        )
        return str(answer["status"]["token"])

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(TOKEN_SECONDS * 0.8)
            for name, client in list(self._clients.items()):
                try:
                    client.config.token = await self._request_token(name)
                except Exception as exc:  # keep the old token; it is still valid for a while
                    log.warning("could not renew the token of %s/%s: %s", NAMESPACE, name, exc)
