"""The ServiceAccount controller: a ``default`` ServiceAccount in every active namespace.

Namespaces are the keys; a namespace is synced when it appears and when its
``default`` ServiceAccount is deleted, so a deleted one comes back, as
upstream's serviceaccounts-controller does.

:class:`TokensController` (upstream's serviceaccount-token-controller) fills
Secrets of type ``kubernetes.io/service-account-token``: a legacy,
non-expiring JWT signed with ``--service-account-private-key-file``, the
cluster CA and the namespace, and stamps the account's uid on the Secret.  A
token Secret whose ServiceAccount is gone (or was recreated with another uid)
is deleted.  Secrets are its keys; a ServiceAccount's add or delete enqueues
the token Secrets that name it.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from kubeling.api.errors import StatusError
from kubeling.apiserver import jwt
from kubeling.client.store import Obj, key_of
from kubeling.controllers.base import Controller, ControllerContext, split_key
from kubeling.controllers.resources import NAMESPACES, SECRETS, SERVICEACCOUNTS

log = logging.getLogger(__name__)

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


# -- legacy token Secrets ----------------------------------------------------------

TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
LEGACY_ISSUER = "kubernetes/serviceaccount"
BY_SERVICE_ACCOUNT = "token-secrets-by-serviceaccount"


def token_secret_index(secret: Obj) -> list[str]:
    """``namespace/account`` for token Secrets, so an account finds its Secrets."""
    if secret.get("type") != TOKEN_SECRET_TYPE:
        return []
    meta = secret.get("metadata") or {}
    name = (meta.get("annotations") or {}).get(SA_NAME_ANNOTATION)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def legacy_claims(service_account: Obj, secret: Obj) -> dict[str, str]:
    """The claims of upstream's legacy (Secret-based) ServiceAccount tokens: no audience, no expiry."""
    sa_meta, secret_meta = service_account["metadata"], secret["metadata"]
    namespace = sa_meta["namespace"]
    return {
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": secret_meta["name"],
        "kubernetes.io/serviceaccount/service-account.name": sa_meta["name"],
        "kubernetes.io/serviceaccount/service-account.uid": sa_meta["uid"],
        "sub": f"system:serviceaccount:{namespace}:{sa_meta['name']}",
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TokensController(Controller):
    name = "serviceaccount-token-controller"
    # Upstream runs it with controller-manager's own credentials; here it has a role of its own.
    service_account = "tokens-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.secrets = self.informer(SECRETS, indexers={BY_SERVICE_ACCOUNT: token_secret_index})
        self.secrets.add_event_handler(
            on_add=self._secret_changed, on_update=lambda _old, new: self._secret_changed(new)
        )
        self.service_accounts = self.informer(SERVICEACCOUNTS)
        self.service_accounts.add_event_handler(
            on_add=self._account_changed,
            on_update=lambda _old, new: self._account_changed(new),
            on_delete=self._account_changed,
        )
        self.key: jwt.PrivateKey | None = None
        if self.options.service_account_private_key_file:
            self.key = jwt.load_private_key(Path(self.options.service_account_private_key_file).read_bytes())
        else:
            log.warning("%s: no --service-account-private-key-file: token Secrets stay empty", self.name)
        ca_file = self.options.root_ca_file
        self.root_ca = Path(ca_file).read_bytes() if ca_file else b""

    def _secret_changed(self, secret: Obj) -> None:
        if secret.get("type") == TOKEN_SECRET_TYPE:
            self.enqueue(secret)

    def _account_changed(self, account: Obj) -> None:
        for secret in self.secrets.store.by_index(BY_SERVICE_ACCOUNT, key_of(account)):
            self.enqueue(secret)

    async def _account(self, namespace: str, name: str) -> Obj | None:
        found = self.service_accounts.store.get_by(name=name, namespace=namespace)
        if found is not None:
            return found
        try:  # a cache miss may just be a lagging watch: ask the API before deleting anything
            return await self.client.get(SERVICEACCOUNTS, name=name, namespace=namespace)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def reconcile(self, key: str) -> None:
        secret = self.secrets.store.get(key)
        if secret is None or secret.get("type") != TOKEN_SECRET_TYPE:
            return
        namespace, name = split_key(key)
        meta = secret["metadata"]
        if meta.get("deletionTimestamp"):
            return
        annotations = meta.get("annotations") or {}
        account = await self._account(namespace, annotations.get(SA_NAME_ANNOTATION, ""))
        wanted_uid = annotations.get(SA_UID_ANNOTATION)
        if account is None or (wanted_uid and wanted_uid != account["metadata"]["uid"]):
            try:
                await self.client.delete(
                    SECRETS, name=name, namespace=namespace, preconditions={"uid": meta["uid"]}
                )
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
            return
        if self.key is None:
            return
        data = dict(secret.get("data") or {})
        ca = _b64(self.root_ca)
        needs_ca = bool(self.root_ca) and data.get("ca.crt") != ca
        needs_namespace = not data.get("namespace")
        needs_token = not data.get("token")
        if not (needs_ca or needs_namespace or needs_token):
            return
        updated = {**secret, "metadata": {**meta, "annotations": dict(annotations)}, "data": data}
        if needs_ca:
            data["ca.crt"] = ca
        if needs_namespace:
            data["namespace"] = _b64(namespace.encode())
        if needs_token:
            data["token"] = _b64(jwt.sign(legacy_claims(account, secret), self.key).encode())
        updated["metadata"]["annotations"][SA_NAME_ANNOTATION] = account["metadata"]["name"]
        updated["metadata"]["annotations"][SA_UID_ANNOTATION] = account["metadata"]["uid"]
        try:
            await self.client.update(SECRETS, updated, namespace=namespace)
        except StatusError as exc:
            if exc.code != 404:  # 409: our copy was stale; the update event brings us back
                raise
