"""Projected ServiceAccount tokens: requested through TokenRequest, bound to the pod, renewed early.

Each (pod uid, account, audience, expirationSeconds) has one cached token.
It is renewed, as upstream's token manager does, once it is older than 80 %
of its lifetime or older than 24 h (tokens the apiserver extends for old
clients live a year, and the kubelet still renews them daily).  Its issue
time is the expiry minus the ``expirationSeconds`` the answer carries.
When a renewal fails, a token not yet expired stays in use.  Upstream adds
up to 10 s of jitter to spread renewals; one kubelet's handful of pods
does not need it.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubeling.api import errors
from kubeling.client.rest import RESTClient
from kubeling.kubelet.volumeplugins.base import SERVICEACCOUNTS, Obj, VolumeError

log = logging.getLogger(__name__)

DEFAULT_EXPIRATION = 3600  # the API default of serviceAccountToken.expirationSeconds
MAX_TTL = 24 * 3600
REFRESH_FRACTION = 0.8

TokenKey = tuple[str, str, str, str, int]  # pod uid, namespace, account, audience, expirationSeconds


@dataclass(frozen=True)
class Token:
    token: str
    expires: float  # epoch seconds
    lifetime: int  # the expirationSeconds it was issued for

    def requires_refresh(self, now: float) -> bool:
        issued = self.expires - self.lifetime
        return now >= issued + min(REFRESH_FRACTION * self.lifetime, MAX_TTL)


def _parse_time(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")))


class TokenManager:
    def __init__(self, client: RESTClient, *, now: Callable[[], float] = time.time) -> None:
        self.client = client
        self.now = now
        self._tokens: dict[TokenKey, Token] = {}

    async def get(self, pod: Obj, *, audience: str = "", expiration_seconds: int | None = None) -> str:
        """A valid token for the pod's ServiceAccount, requesting a new one when due."""
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        lifetime = expiration_seconds or DEFAULT_EXPIRATION
        key: TokenKey = (meta.get("uid", ""), meta.get("namespace", ""), account, audience, lifetime)
        cached = self._tokens.get(key)
        now = self.now()
        if cached is not None and not cached.requires_refresh(now):
            return cached.token
        try:
            fresh = await self._request(pod, account, audience, lifetime)
        except VolumeError:
            if cached is not None and now < cached.expires:
                log.warning("token renewal for pod %s failed; keeping the current token", key[0])
                return cached.token
            raise
        self._tokens[key] = fresh
        return fresh.token

    def forget(self, pod_uid: str) -> None:
        for key in [key for key in self._tokens if key[0] == pod_uid]:
            del self._tokens[key]

    async def _request(self, pod: Obj, account: str, audience: str, lifetime: int) -> Token:
        meta = pod["metadata"]
        spec: Obj = {
            "expirationSeconds": lifetime,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
        }
        if audience:
            spec["audiences"] = [audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            answer = await self.client.create(
                SERVICEACCOUNTS, body, namespace=meta["namespace"], name=account, subresource="token"
            )
        except errors.StatusError as exc:
            raise VolumeError(f'failed to fetch token: serviceaccounts "{account}": {exc}') from exc
        status = answer.get("status") or {}
        issued_for = (answer.get("spec") or {}).get("expirationSeconds") or lifetime
        return Token(status["token"], _parse_time(status["expirationTimestamp"]), int(issued_for))
