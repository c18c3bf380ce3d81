"""ServiceAccount: give every new pod an identity and a way to use it.

On pod CREATE (not on subresources or updates):

1. ``spec.serviceAccountName`` defaults to ``default`` (the deprecated
   ``spec.serviceAccount`` alias is read when the name is empty, and mirrors
   the result, as the v1 conversion does).
2. With ``require_service_account`` the account must exist (403
   ``error looking up service account ns/name: ...``).  Off by default until
   a controller creates the ``default`` accounts; a missing account then
   behaves like one with no preferences.
3. Unless ``automountServiceAccountToken`` is false (the pod's choice wins
   over the account's), a projected ``kube-api-access-xxxxx`` volume (bound
   token, cluster CA, namespace) is added and mounted read-only at
   ``/var/run/secrets/kubernetes.io/serviceaccount`` into every init and app
   container that has nothing mounted there yet.
4. A pod without ``imagePullSecrets`` takes the account's.

Mirror pods (the kubelet's copies of static pods) are never mutated: the
kubelet would see a spec differing from its manifest.  They may not name a
service account at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from kubeling.apiserver.admission.common import forbidden
from kubeling.apiserver.admission.interface import CREATE, Attributes, Lister

DEFAULT_SERVICE_ACCOUNT = "default"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# A bound token lives a little over an hour; the odd 7 seconds mark tokens the
# apiserver may extend for legacy clients that never re-read them.
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix() -> str:
    return "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def token_volume(name: str) -> dict:
    """The projected volume holding the token, the cluster CA and the namespace."""
    return {
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }


def should_automount(service_account: dict | None, spec: dict) -> bool:
    if isinstance(spec.get("automountServiceAccountToken"), bool):
        return spec["automountServiceAccountToken"]
    if service_account is not None and isinstance(service_account.get("automountServiceAccountToken"), bool):
        return service_account["automountServiceAccountToken"]
    return True


def mount_token(spec: dict, new_name: Callable[[], str]) -> None:
    """Add the token volume (once) and mount it where nothing is mounted yet."""
    volumes = spec.get("volumes") or []
    existing = next(
        (
            v["name"]
            for v in volumes
            if isinstance(v, dict) and str(v.get("name", "")).startswith(VOLUME_PREFIX)
        ),
        None,
    )
    volume_name = existing or VOLUME_PREFIX + new_name()
    mounted = False
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            mounts = container.get("volumeMounts") or []
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts if isinstance(m, dict)):
                continue
            container["volumeMounts"] = [
                *mounts,
                {"name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH},
            ]
            mounted = True
    if mounted and existing is None:
        spec["volumes"] = [*volumes, token_volume(volume_name)]


class ServiceAccount:
    name = "ServiceAccount"

    def __init__(
        self,
        lister: Lister,
        *,
        require_service_account: bool = False,
        mount_service_account_token: bool = True,
        name_suffix: Callable[[], str] = random_suffix,
    ) -> None:
        self._lister = lister
        self._require = require_service_account
        self._mount = mount_service_account_token
        self._suffix = name_suffix

    async def admit(self, attrs: Attributes, obj: dict, old: dict | None) -> None:
        resource = attrs.resource
        if resource.group or resource.plural != "pods" or attrs.subresource or attrs.operation != CREATE:
            return
        spec = obj.setdefault("spec", {})
        if MIRROR_POD_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {}):
            if spec.get("serviceAccountName") or spec.get("serviceAccount"):
                raise forbidden(attrs, "a mirror pod may not reference service accounts")
            return
        account_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
        spec["serviceAccountName"] = account_name
        spec["serviceAccount"] = account_name
        account = self._lister.get("", "serviceaccounts", attrs.namespace, account_name)
        if account is None and self._require:
            raise forbidden(
                attrs,
                f"error looking up service account {attrs.namespace}/{account_name}: "
                f'serviceaccount "{account_name}" not found',
            )
        if self._mount and should_automount(account, spec):
            mount_token(spec, self._suffix)
        if not spec.get("imagePullSecrets") and account is not None:
            pull = [{"name": s["name"]} for s in account.get("imagePullSecrets") or [] if s.get("name")]
            if pull:
                spec["imagePullSecrets"] = pull
