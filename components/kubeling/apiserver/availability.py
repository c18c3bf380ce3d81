"""The APIService availability controller, run inside the apiserver (upstream's kube-aggregator loop).

Every APIService gets an ``Available`` condition:

- Local (no ``spec.service``): True, ``Local``;
- its Service is missing: False, ``ServiceNotFound``; the Service lacks the
  port: False, ``ServicePortError``;
- no ready endpoint for that port (ExternalName Services skip this): False,
  ``MissingEndpoints``;
- ``GET /apis/<group>/<version>`` through the proxy, as
  ``system:kube-aggregator`` in ``system:masters``, fails or answers non-2xx:
  False, ``FailedDiscoveryCheck``;
- else True, ``Passed``.

The discovery check's answer (the group-version's APIResourceList) is kept in
:attr:`AvailabilityController.discovery`, the document aggregated discovery
publishes for that group-version; a failed check marks it stale.

What runs when: the watch cache's events for APIServices, Services and
EndpointSlices mark the APIServices they concern dirty; one loop checks the
dirty ones (in parallel, each check bounded by a timeout) and every
``--apiservice-resync-interval`` all of them.  Status is written only when the
condition changes (lastTransitionTime moves only when its status does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from kubeling.api import errors
from kubeling.apiserver import aggregator
from kubeling.apiserver.aggregator import BackendUnavailable, service_ref
from kubeling.apiserver.authn import User
from kubeling.apiserver.objects import now_rfc3339
from kubeling.apiserver.store import WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

_CHECK_TIMEOUT = 5.0
_AGGREGATOR_USER = User("system:kube-aggregator", groups=("system:masters",))


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str


@dataclass
class CachedDiscovery:
    """The last APIResourceList a backend served, and whether the last check got it."""

    resource_list: dict[str, Any]
    fresh: bool


def endpoint_problem(server: APIServer, ref: Mapping[str, Any]) -> Condition | None:
    """ServiceNotFound / ServicePortError / MissingEndpoints, or None when the service looks servable."""
    namespace, name = str(ref.get("namespace", "")), str(ref.get("name", ""))
    port = int(ref.get("port") or 443)
    where = f'service/{name} in "{namespace}"'
    service = server.lookup("", "services", namespace, name)
    if service is None:
        return Condition("False", "ServiceNotFound", f"{where} is not present")
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    service_port = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
    if service_port is None:
        return Condition("False", "ServicePortError", f"{where} is not listening on port {port}")
    port_name = str(service_port.get("name") or "")
    if not aggregator.ready_endpoints(server, namespace, name, port_name):
        return Condition(
            "False",
            "MissingEndpoints",
            f'endpoints for {where} have no addresses with port name "{port_name}"',
        )
    return None


class AvailabilityController:
    def __init__(self, server: APIServer, proxy: aggregator.AggregatorProxy) -> None:
        self.server = server
        self.proxy = proxy
        # "<version>.<group>" -> the backend's APIResourceList.
        self.discovery: dict[str, CachedDiscovery] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    # -- checks ---------------------------------------------------------------------------

    async def check(self, apiservice: Mapping[str, Any]) -> Condition:
        name = apiservice["metadata"]["name"]
        ref = service_ref(apiservice)
        if ref is None:
            return Condition("True", "Local", "Local APIServices are always available")
        problem = endpoint_problem(self.server, ref)
        if problem is not None:
            self._mark_stale(name)
            return problem
        spec = apiservice.get("spec") or {}
        path = f"/apis/{spec.get('group', '')}/{spec.get('version', '')}"
        headers = aggregator.forwarded_headers({"Accept": "application/json"}, _AGGREGATOR_USER)
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT):
                response = await self.proxy.open(
                    apiservice, "GET", path, headers, timeout=aiohttp.ClientTimeout(total=_CHECK_TIMEOUT)
                )
                async with response:
                    body = await response.read()
        except (BackendUnavailable, TimeoutError, aiohttp.ClientError) as exc:
            self._mark_stale(name)
            message = str(exc) or "timed out"
            return Condition(
                "False", "FailedDiscoveryCheck", f"failing or missing response from {path}: {message}"
            )
        if not 200 <= response.status < 300:
            self._mark_stale(name)
            return Condition(
                "False",
                "FailedDiscoveryCheck",
                f"failing or missing response from {path}: bad status from {path}: {response.status}",
            )
        try:
            resource_list = orjson.loads(body)
        except orjson.JSONDecodeError:
            resource_list = None
        if isinstance(resource_list, dict):
            self.discovery[name] = CachedDiscovery(resource_list, fresh=True)
        return Condition("True", "Passed", "all checks passed")

    def _mark_stale(self, name: str) -> None:
        cached = self.discovery.get(name)
        if cached is not None:
            cached.fresh = False

    async def sync(self, name: str) -> None:
        """Check one APIService and write its Available condition when it changed."""
        current = self.server.lookup(aggregator.GROUP, aggregator.RESOURCE, "", name)
        if current is None:
            self.discovery.pop(name, None)
            return
        condition = await self.check(current)
        if _same(_available(current), condition):
            return
        store = self.server.store(aggregator.GROUP, "v1", aggregator.RESOURCE)
        ctx = WriteContext(
            user="system:kube-aggregator", field_manager="kube-apiserver", subresource="status"
        )

        def mutate(obj: dict[str, Any]) -> dict[str, Any]:
            status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Available"]
            old = _available(obj)
            changed_at = (
                old.get("lastTransitionTime") if old and old.get("status") == condition.status else None
            )
            conditions.append(
                {
                    "type": "Available",
                    "status": condition.status,
                    "lastTransitionTime": changed_at or now_rfc3339(),
                    "reason": condition.reason,
                    "message": condition.message,
                }
            )
            status["conditions"] = conditions
            obj["status"] = status
            return obj

        with contextlib.suppress(errors.StatusError):
            await store.guaranteed_update("", name, mutate, ctx)
        level = logging.DEBUG if condition.reason == "Local" else logging.INFO
        log.log(
            level,
            "APIService %s: Available=%s (%s) %s",
            name,
            condition.status,
            condition.reason,
            condition.message,
        )

    # -- triggers ---------------------------------------------------------------------------

    def mark(self, names: set[str] | list[str]) -> None:
        self._dirty.update(names)
        self._wake.set()

    def _names_for_service(self, namespace: str, name: str) -> list[str]:
        return [
            a["metadata"]["name"]
            for a in aggregator.api_services(self.server)
            if (ref := service_ref(a)) is not None
            and ref.get("namespace") == namespace
            and ref.get("name") == name
        ]

    def _on_event(self, group: str, plural: str, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if plural == aggregator.RESOURCE:
            if kind == "DELETED":
                self.discovery.pop(meta.get("name", ""), None)
            else:
                self.mark([meta.get("name", "")])
            return
        service = meta.get("name", "")
        if plural == "endpointslices":
            service = (meta.get("labels") or {}).get(aggregator.SERVICE_NAME_LABEL, "")
        names = self._names_for_service(meta.get("namespace", ""), service)
        if names:
            self.mark(names)

    async def _follow(self, group: str, plural: str) -> None:
        """Feed one resource's watch-cache events into :meth:`_on_event`, reopening when closed."""
        resource = self.server.registry.preferred(group, plural)
        assert resource is not None and self.server.cache is not None
        while True:
            watcher = self.server.cache.watch(
                resource.storage_prefix, resource.storage_prefix, lambda _o: True, since=None
            )
            try:
                while (item := await watcher.queue.get()) is not None:
                    kind, obj = item
                    self._on_event(group, plural, kind, obj)
            finally:
                self.server.cache.forget(watcher)
            await asyncio.sleep(0.1)

    async def run(self, resync_interval: float) -> None:
        followers = [
            asyncio.create_task(self._follow(g, p), name=f"apiservice-watch-{p}")
            for g, p in (
                (aggregator.GROUP, aggregator.RESOURCE),
                ("", "services"),
                ("discovery.k8s.io", "endpointslices"),
            )
        ]
        loop = asyncio.get_running_loop()
        next_resync = loop.time()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_resync - loop.time())):
                        await self._wake.wait()
                self._wake.clear()
                if loop.time() >= next_resync:
                    self._dirty.update(a["metadata"]["name"] for a in aggregator.api_services(self.server))
                    next_resync = loop.time() + resync_interval
                names = sorted(n for n in self._dirty if n)
                self._dirty = set()
                results = await asyncio.gather(*(self.sync(n) for n in names), return_exceptions=True)
                for name, result in zip(names, results, strict=True):
                    if isinstance(result, Exception):
                        log.warning("checking APIService %s failed: %s", name, result)
        finally:
            for task in followers:
                task.cancel()
            await asyncio.gather(*followers, return_exceptions=True)


def _available(apiservice: Mapping[str, Any]) -> dict[str, Any] | None:
    for condition in (apiservice.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Available":
            return condition
    return None


def _same(current: Mapping[str, Any] | None, wanted: Condition) -> bool:
    if current is None:
        return False
    return (current.get("status"), current.get("reason"), current.get("message")) == (
        wanted.status,
        wanted.reason,
        wanted.message,
    )
