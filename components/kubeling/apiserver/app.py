"""The apiserver process: storage, watch cache, stores and the HTTP app.

``APIServer.start()`` opens the datastore, loads the watch cache, makes sure
the bootstrap objects exist (the four system namespaces, the ``kubernetes``
Service), starts the CRD establishing loop and serves HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

import kubeling
from kubeling.api import errors
from kubeling.api.resources import Registry, Resource
from kubeling.apiserver import (
    aggregator,
    autoregister,
    availability,
    clientcerts,
    crds,
    discovery,
    kubeletproxy,
    openapiv2,
    requestheader,
    serviceproxy,
)
from kubeling.apiserver.admission.chain import AdmissionChain, default_chain
from kubeling.apiserver.admission.priority import ensure_system_priority_classes
from kubeling.apiserver.admission.wiring import CacheLister, quota_charger
from kubeling.apiserver.allocators import NodePortAllocator, ServiceIPAllocator
from kubeling.apiserver.authn import Authenticator, User, load_token_file
from kubeling.apiserver.authz.attributes import Attributes, forbidden_error
from kubeling.apiserver.authz.chain import Chain
from kubeling.apiserver.authz.chain import build as build_authorizer
from kubeling.apiserver.authz.rbac import RBACAuthorizer
from kubeling.apiserver.authz.wiring import (
    CachePodsLister,
    CacheRBACLister,
    aggregate_once,
    aggregation_loop,
    ensure_bootstrap_policy,
)
from kubeling.apiserver.config import APIServerConfig
from kubeling.apiserver.endpointreconciler import EndpointReconciler, advertised_address
from kubeling.apiserver.handlers import ResourceHandler, respond
from kubeling.apiserver.negotiation import Shape, negotiate
from kubeling.apiserver.openapi import OpenAPIPublisher
from kubeling.apiserver.openapiv2 import OpenAPIV2Publisher
from kubeling.apiserver.requestinfo import authorization_name, parse
from kubeling.apiserver.satokens import ServiceAccountTokens
from kubeling.apiserver.store import ResourceStore, WriteContext
from kubeling.apiserver.strategies import Checks, default_checks, strategy_for
from kubeling.apiserver.watchcache import WatchCache
from kubeling.apiserver.workers import WorkerPool
from kubeling.storage import Storage, StorageError, UnavailableError
from kubeling.storage.factory import open_storage

log = logging.getLogger(__name__)

_X509_V_FLAG_NO_CHECK_TIME = 0x200000
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str = ""


def _tune_gc() -> None:
    """Collect cyclic garbage less often than CPython's default.

    The heap is mostly long-lived, acyclic JSON (the watch cache, schemas) and
    every write allocates thousands of objects, most of which survive into the
    cache: with a young collection every 700 allocations, collections took a
    sixth of the CPU of a create/binding load.  Refcounting still frees
    everything acyclic at once; only cycles wait longer.
    """
    gc.set_threshold(50_000, 20, 10)


class APIServer:
    """One apiserver process.

    The primary (the default) bootstraps the cluster's objects and runs the
    singleton loops; with ``config.workers > 1`` it also starts serving-only
    secondaries on the same port (``workers.py``).
    """

    def __init__(
        self, config: APIServerConfig, *, checks: Checks | None = None, primary: bool = True
    ) -> None:
        self.config = config
        self.primary = primary
        self.registry = Registry()
        self.checks = checks or default_checks()
        self.storage: Storage | None = None
        self.cache: WatchCache | None = None
        self._stores: dict[Resource, ResourceStore] = {}
        self.admission: AdmissionChain | None = None
        self.authorizer: Chain | None = None
        self.openapi = OpenAPIPublisher(self.registry)
        self.openapi_v2 = OpenAPIV2Publisher(self.openapi, version=version_info()["gitVersion"])
        self.service_accounts = _service_account_tokens(config)
        self.authenticator = Authenticator(
            load_token_file(config.token_auth_file), self.service_accounts, self.lookup
        )
        self.handler = ResourceHandler(self)
        self.kubelet_proxy = kubeletproxy.KubeletProxy(self)
        self.service_proxy = serviceproxy.ServiceProxy(self)
        request_header = requestheader.request_header_config(config)
        if request_header is not None:
            self.authenticator.request_header = requestheader.RequestHeaderAuthenticator(request_header)
        self.aggregator = aggregator.AggregatorProxy(self)
        self.availability = availability.AvailabilityController(self, self.aggregator)
        if primary:
            self.aggregator.on_unreachable = lambda name: self.availability.mark([name])
        self._runner: web.AppRunner | None = None
        self._workers: WorkerPool | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._endpoints: EndpointReconciler | None = None
        self.port = config.secure_port
        low, _, high = config.service_node_port_range.partition("-")
        self._node_port_range = (int(low), int(high))

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        """Connect the datastore and warm the cache (no HTTP yet)."""
        _tune_gc()
        config = self.config
        self.storage = await open_storage(
            backend=config.storage_backend,
            etcd_servers=config.etcd_servers,
            etcd_cafile=config.etcd_cafile or None,
            etcd_certfile=config.etcd_certfile or None,
            etcd_keyfile=config.etcd_keyfile or None,
            data_dir=str(config.data_dir),
        )
        self.ips = ServiceIPAllocator(self.storage, config.service_cluster_ip_range)
        self.node_ports = NodePortAllocator(self.storage, *self._node_port_range)
        self.cache = WatchCache(self.storage)
        await self.cache.start()
        self.admission = default_chain(
            CacheLister(self),
            quota_charger(self),
            fetch_namespace=self._fetch_namespace,
            not_ready_toleration_seconds=config.default_not_ready_toleration_seconds,
            unreachable_toleration_seconds=config.default_unreachable_toleration_seconds,
        )
        if self.primary:
            await self._bootstrap()
            await ensure_system_priority_classes(self)
            await ensure_bootstrap_policy(self)
            await aggregate_once(self)
            await autoregister.ensure_local_api_services(self)
        self.authorizer = build_authorizer(
            [m.strip() for m in self.config.authorization_mode.split(",") if m.strip()],
            CacheRBACLister(self),
            CachePodsLister(self),
        )
        # Every process serves established CRDs; only the primary writes their status.
        self._tasks.append(asyncio.create_task(crds.establish_loop(self), name="crd-establisher"))
        if self.primary:
            self._tasks.append(asyncio.create_task(aggregation_loop(self), name="clusterrole-aggregation"))
            self._tasks.append(
                asyncio.create_task(
                    self.availability.run(config.apiservice_resync_interval), name="apiservice-availability"
                )
            )
            if config.etcd_compaction_interval > 0:
                self._tasks.append(asyncio.create_task(self._compact_loop(), name="compactor"))
        # What startup built (schemas, the loaded cache, modules) lives as long as
        # the process: keep it out of every later collection.
        gc.freeze()

    async def start(self, on_serving: Callable[[APIServer], None] | None = None) -> None:
        """Open, serve, then (primary) publish and start the workers.

        ``on_serving`` runs once the port is bound and the self-signed PKI
        exists, before any worker is spawned: what it puts in ``self.config``
        reaches the workers too.
        """
        await self.open()
        app = self.make_app()
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self.config.bind_address,
            self.config.secure_port,
            ssl_context=self._ssl_context(),
            backlog=1024,
            # Several processes accept on one port; the kernel balances connections.
            reuse_port=self.config.workers > 1 or not self.primary,
        )
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("serving securely on %s:%d", self.config.bind_address, self.port)
        if not self.primary:
            return
        # After the serving context: without a PKI it is what makes the client CA file.
        await requestheader.publish(self)
        if on_serving is not None:
            on_serving(self)
        if self.config.workers > 1:
            # Spawned now: the serving certificate and client CA files exist.
            self._workers = WorkerPool(self.config, self.port, self.config.workers - 1)
            self._workers.start()
        address = advertised_address(self.config.advertise_address, self.config.bind_address)
        if address:
            self._endpoints = EndpointReconciler(self, address, self.port)
            self._tasks.append(asyncio.create_task(self._endpoints.run(), name="endpoint-reconciler"))
        else:
            log.warning("no non-loopback address to advertise: the kubernetes Service gets no endpoints")

    async def _compact_loop(self) -> None:
        """Compact history older than one interval, like kube-apiserver's compactor.

        Each tick compacts to the revision seen at the previous tick, so watchers
        always have at least one interval of history to resume from.
        """
        assert self.storage is not None
        previous = 0
        while True:
            await asyncio.sleep(self.config.etcd_compaction_interval)
            try:
                current = await self.storage.current_revision()
                if previous:
                    await self.storage.compact(previous)
                    log.info("compacted datastore history up to revision %d", previous)
                previous = current
            except StorageError as exc:
                log.warning("compaction failed: %s", exc)

    async def stop(self) -> None:
        if self._workers is not None:
            await self._workers.stop()
        if self._endpoints is not None:
            try:
                await asyncio.wait_for(self._endpoints.remove_self(), 5)
            except Exception as exc:  # leaving is a courtesy: the Lease expires anyway
                log.warning("could not remove this server from the kubernetes endpoints: %r", exc)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
        await self.kubelet_proxy.close()
        await self.service_proxy.close()
        await self.aggregator.close()
        if self.cache is not None:
            await self.cache.stop()
        if self.storage is not None:
            await self.storage.close()

    def _ssl_context(self) -> ssl.SSLContext:
        from pathlib import Path

        from kubeling.pki.selfsigned import ensure_serving_cert

        cert, key = self.config.tls_cert_file, self.config.tls_private_key_file
        if not cert or not key:
            hosts = [
                "localhost",
                "127.0.0.1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                self.ips.nth(1),
                *self.config.extra_sans,
            ]
            if self.config.advertise_address:
                hosts.append(self.config.advertise_address)
            _, crt_path, key_path = ensure_serving_cert(Path(self.config.cert_dir), hosts)
            cert, key = str(crt_path), str(key_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        client_cas = [f for f in (self.config.client_ca_file, self.config.requestheader_client_ca_file) if f]
        if client_cas:
            # Ask for a client certificate; requests without one fall back to tokens.
            context.verify_mode = ssl.CERT_OPTIONAL
            for ca_file in client_cas:
                context.load_verify_locations(ca_file)
            if clientcerts.defer_verification(context):
                # The authenticator verifies certificates and answers 401, as upstream.
                self.authenticator.client_cas = (
                    clientcerts.load_client_cas(self.config.client_ca_file)
                    if self.config.client_ca_file
                    else []
                )
            else:
                log.warning("client certificates are verified in the TLS handshake: bad ones get no 401")
                # At least let signed-but-expired certificates through so they get a 401
                # (OpenSSL's X509_V_FLAG_NO_CHECK_TIME; Python has no named constant).
                context.verify_flags |= _X509_V_FLAG_NO_CHECK_TIME
        context.set_alpn_protocols(["http/1.1"])
        return context

    # -- authorization -------------------------------------------------------------

    def _impersonate(self, user: User, request: web.Request) -> User:
        """Act as another user when Impersonate-* headers ask and the caller may impersonate."""
        headers = request.headers
        target = headers.get("Impersonate-User")
        groups = tuple(headers.getall("Impersonate-Group", []))
        uid = headers.get("Impersonate-Uid", "")
        extra: dict[str, list[str]] = {}
        for key in headers:
            if key.lower().startswith("impersonate-extra-"):
                extra[key[len("impersonate-extra-") :].lower()] = headers.getall(key)
        if target is None:
            if groups or uid or extra:
                raise errors.bad_request("requested impersonation without a user (Impersonate-User)")
            return user
        checks: list[Attributes] = []
        prefix = "system:serviceaccount:"
        if target.startswith(prefix) and target.count(":") == 3:
            namespace, name = target[len(prefix) :].split(":")
            checks.append(
                Attributes(
                    user.name,
                    user.groups,
                    "impersonate",
                    namespace=namespace,
                    resource="serviceaccounts",
                    name=name,
                )
            )
            if not groups:
                groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
        else:
            checks.append(Attributes(user.name, user.groups, "impersonate", resource="users", name=target))
        checks += [
            Attributes(user.name, user.groups, "impersonate", resource="groups", name=g) for g in groups
        ]
        if uid:
            checks.append(
                Attributes(
                    user.name,
                    user.groups,
                    "impersonate",
                    api_group="authentication.k8s.io",
                    resource="uids",
                    name=uid,
                )
            )
        for key, values in extra.items():
            checks += [
                Attributes(
                    user.name,
                    user.groups,
                    "impersonate",
                    api_group="authentication.k8s.io",
                    resource="userextras",
                    subresource=key,
                    name=v,
                )
                for v in values
            ]
        if self.authorizer is not None:
            for attrs in checks:
                decision = self.authorizer.authorize(attrs)
                if not decision.allowed:
                    raise forbidden_error(attrs, decision.reason)
        if target != "system:anonymous" and "system:authenticated" not in groups:
            groups = (*groups, "system:authenticated")
        return User(target, uid, groups, extra)

    def _authorize(self, user: User, info: Any, path: str, query: dict[str, str]) -> None:
        if self.authorizer is None:
            return
        if info.is_resource_request:
            attrs = Attributes(
                user=user.name, groups=user.groups, verb=info.verb, namespace=info.namespace,
                api_group=info.group, resource=info.resource, subresource=info.subresource,
                name=authorization_name(info, query),
            )  # fmt: skip
        else:
            verb = {"head": "get"}.get(info.verb, info.verb)
            attrs = Attributes(
                user=user.name, groups=user.groups, verb=verb, path=path, is_resource_request=False
            )
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)

    def check_access(self, subject: User, spec: dict[str, Any]) -> AccessDecision:
        """Would ``subject`` be allowed what an access review's spec describes?"""
        if self.authorizer is None:
            return AccessDecision(True, "")
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict):
            attrs = Attributes(
                user=subject.name, groups=subject.groups, verb=resource.get("verb", ""),
                namespace=resource.get("namespace", ""), api_group=resource.get("group", ""),
                resource=resource.get("resource", ""), subresource=resource.get("subresource", ""),
                name=resource.get("name", ""),
            )  # fmt: skip
        else:
            other = spec.get("nonResourceAttributes") or {}
            attrs = Attributes(
                user=subject.name,
                groups=subject.groups,
                verb=other.get("verb", ""),
                path=other.get("path", ""),
                is_resource_request=False,
            )
        decision = self.authorizer.authorize(attrs)
        return AccessDecision(decision.allowed, decision.reason)

    def rules_review(self, user: User, namespace: str) -> dict[str, Any]:
        """What ``user`` may do in ``namespace`` (SelfSubjectRulesReview status)."""
        if "system:masters" in user.groups or "RBAC" not in self.config.authorization_mode:
            return {
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": False,
            }
        rbac = RBACAuthorizer(CacheRBACLister(self))
        resource_rules, non_resource_rules = rbac.rules_for(user.name, user.groups, namespace)
        status: dict[str, Any] = {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": "Node" in self.config.authorization_mode,
        }
        problems = rbac.rules_errors(user.name, user.groups, namespace)
        if problems:
            status["evaluationError"] = "; ".join(problems)
        return status

    # -- stores ------------------------------------------------------------------

    def lookup(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """An object from the watch cache (preferred version), or None."""
        resource = self.registry.preferred(group, plural)
        if resource is None or self.cache is None:
            return None
        return self.cache.get(resource.key(namespace or None, name))

    def store_for(self, resource: Resource) -> ResourceStore:
        store = self._stores.get(resource)
        if store is None:
            assert self.storage is not None and self.cache is not None
            store = ResourceStore(
                resource,
                self.storage,
                self.cache,
                strategy_for(resource, self.checks, self.ips, self.node_ports),
                admission=self.admission,
            )
            self._stores[resource] = store
        return store

    def store(self, group: str, version: str, plural: str) -> ResourceStore:
        resource = self.registry.get(group, version, plural)
        assert resource is not None, (group, version, plural)
        return self.store_for(resource)

    async def _fetch_namespace(self, name: str) -> dict[str, Any] | None:
        """A namespace straight from storage, for when the cache may lag."""
        try:
            return await self.store("", "v1", "namespaces").get("", name)
        except errors.StatusError:
            return None

    async def _bootstrap(self) -> None:
        ctx = WriteContext(user="system:apiserver", field_manager="kube-apiserver")
        namespaces = self.store("", "v1", "namespaces")
        for name in SYSTEM_NAMESPACES:
            with contextlib.suppress(errors.StatusError):
                await namespaces.create("", {"metadata": {"name": name}}, ctx)
        services = self.store("", "v1", "services")
        kubernetes_service = {
            "metadata": {
                "name": "kubernetes",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": self.ips.nth(1),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}],
                "sessionAffinity": "None",
            },
        }
        with contextlib.suppress(errors.StatusError):
            await services.create("default", kubernetes_service, ctx)

    # -- HTTP --------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[self._errors_middleware])
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def _errors_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.StatusError as exc:
            return self._status_response(exc)
        except web.HTTPRequestEntityTooLarge:
            return self._status_response(errors.too_large())
        except web.HTTPException:
            raise
        except UnavailableError:
            return self._status_response(
                errors.StatusError(503, "ServiceUnavailable", "the datastore is unavailable")
            )
        except StorageError as exc:
            log.exception("storage error on %s %s", request.method, request.path)
            return self._status_response(errors.internal(str(exc)))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # never a traceback to the client
            log.exception("unhandled error on %s %s", request.method, request.path)
            return self._status_response(errors.internal(type(exc).__name__))

    @staticmethod
    def _status_response(exc: errors.StatusError) -> web.Response:
        response = web.Response(
            body=orjson.dumps(exc.status()), status=exc.code, content_type="application/json"
        )
        for key, value in exc.headers.items():
            response.headers[key] = value
        return response

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        user = self._impersonate(self.authenticator.authenticate(request), request)
        query = dict(request.query)
        info = parse(request.method, request.path, query)
        self._authorize(user, info, request.path, query)
        apiservice = self._aggregated_api_service(request.path)
        if apiservice is not None:
            return await self.aggregator.handle(request, apiservice, user)
        if not info.is_resource_request:
            return await self._non_resource(request)
        if kubeletproxy.handles(info):
            return await self.kubelet_proxy.handle(request, info, user)
        if serviceproxy.handles(info):
            return await self.service_proxy.handle(request, info)
        resource = self.registry.get(info.group, info.version, info.resource)
        if resource is None:
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        return await self.handler.handle(request, info, resource, user)

    async def _non_resource(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed(f"{request.method} is not allowed on {path}")
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return await self._health(request, path)
        if path == "/version":
            return respond(request, version_info())
        if path in ("/.well-known/openid-configuration", "/openid/v1/jwks") and self.service_accounts:
            if path == "/openid/v1/jwks":
                body = self.service_accounts.jwks()
            else:
                body = self.service_accounts.openid_configuration(
                    f"{self.service_accounts.issuer}/openid/v1/jwks"
                )
            return web.Response(body=orjson.dumps(body), content_type="application/json")
        if path == "/api":
            return self._discovery(request, discovery.api_versions(), aggregated_group="")
        if path == "/apis":
            return self._discovery(request, self._api_group_list(), aggregated_group="apis")
        segments = path.strip("/").split("/")
        if segments[0] == "apis" and len(segments) == 2 and segments[1] not in self.registry.group_versions():
            return respond(request, self._aggregated_api_group(segments[1]))
        if segments[0] == "api" and len(segments) == 2:
            if segments[1] not in self.registry.group_versions().get("", []):
                raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
            return respond(request, discovery.api_resource_list(self.registry, "", segments[1]))
        if segments[0] == "apis" and len(segments) in (2, 3):
            versions = self.registry.group_versions().get(segments[1])
            if not versions:
                raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
            if len(segments) == 2:
                return respond(request, discovery.api_group(self.registry, segments[1]))
            if segments[2] not in versions:
                raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
            return respond(request, discovery.api_resource_list(self.registry, segments[1], segments[2]))
        if path == "/openapi/v2":
            return await openapiv2.serve(request, self.openapi_v2)
        if path == "/openapi/v3":
            return web.Response(body=orjson.dumps(self.openapi.index()), content_type="application/json")
        if path.startswith("/openapi/v3/"):
            document = self.openapi.document(path[len("/openapi/v3/") :])
            if document is None:
                raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
            return web.Response(
                body=document,
                content_type="application/json",
                headers={"Cache-Control": "public, immutable" if request.query.get("hash") else "no-cache"},
            )
        if path == "/":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"]
            paths.append("/openapi/v2")
            for group, versions in self.registry.group_versions().items():
                if group:
                    paths.append(f"/apis/{group}")
                    paths.extend(f"/apis/{group}/{v}" for v in versions)
            return respond(request, {"paths": sorted(paths)})
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")

    # -- aggregation -------------------------------------------------------------

    def _aggregated_api_service(self, path: str) -> dict[str, Any] | None:
        """The APIService with a service that serves ``path`` (``/apis/<group>/<version>[/...]``), if any."""
        if not path.startswith("/apis/"):
            return None
        segments = path[len("/apis/") :].split("/", 2)
        if len(segments) < 2 or segments[1] in self.registry.group_versions().get(segments[0], ()):
            return None
        apiservice = aggregator.api_service_for(self, segments[0], segments[1])
        if apiservice is None or aggregator.service_ref(apiservice) is None:
            return None
        return apiservice

    def aggregated_versions(self) -> list[discovery.AggregatedVersion]:
        """Every group-version an extension apiserver serves (built-in groups excluded)."""
        built_in = self.registry.group_versions()
        versions = []
        for apiservice in aggregator.api_services(self):
            spec = apiservice.get("spec") or {}
            group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
            if aggregator.service_ref(apiservice) is None or not group or group in built_in:
                continue
            cached = self.availability.discovery.get(apiservice["metadata"]["name"])
            versions.append(
                discovery.AggregatedVersion(
                    group=group,
                    version=version,
                    group_priority=int(spec.get("groupPriorityMinimum") or 0),
                    version_priority=int(spec.get("versionPriority") or 0),
                    resource_list=cached.resource_list if cached else None,
                    fresh=bool(cached and cached.fresh),
                )
            )
        return versions

    def _api_group_list(self) -> dict[str, Any]:
        return discovery.with_aggregated_groups(
            discovery.api_group_list(self.registry), self.aggregated_versions()
        )

    def _aggregated_api_group(self, group: str) -> dict[str, Any]:
        for name, versions in discovery.aggregated_groups(self.aggregated_versions()):
            if name == group:
                return discovery.aggregated_api_group(name, versions)
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")

    def _discovery(
        self, request: web.Request, legacy: dict[str, Any], *, aggregated_group: str
    ) -> web.Response:
        try:
            target = negotiate(request.headers.get("Accept"))
        except errors.StatusError:
            target = None
        if target is not None and target.shape is Shape.DISCOVERY_V2 and hasattr(discovery, "aggregated"):
            body = discovery.aggregated(self.registry, aggregated_group)
            if aggregated_group == "apis":
                body = discovery.with_aggregated_discovery(body, self.aggregated_versions())
            return web.Response(
                body=orjson.dumps(body),
                headers={
                    "Content-Type": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
                },
            )
        return web.Response(body=orjson.dumps(legacy), content_type="application/json")

    async def _health(self, request: web.Request, path: str) -> web.Response:
        checks: dict[str, bool] = {"ping": True, "log": True}
        if path.startswith("/readyz") or path.endswith("etcd") or path in ("/healthz", "/livez", "/readyz"):
            checks["etcd"] = await self._datastore_healthy()
        if path.startswith("/readyz"):
            checks["informer-sync"] = bool(self.cache and self.cache.ready)
        ok = all(checks.values())
        if "verbose" in request.query:
            lines = [f"[{'+' if v else '-'}]{k} {'ok' if v else 'failed'}" for k, v in checks.items()]
            text = "\n".join(lines) + f"\n{path.strip('/')} check {'passed' if ok else 'failed'}\n"
        else:
            text = "ok" if ok else "unhealthy"
        return web.Response(text=text, status=200 if ok else 500, content_type="text/plain")

    async def _datastore_healthy(self) -> bool:
        if self.storage is None:
            return False
        try:
            async with asyncio.timeout(2):
                await self.storage.current_revision()
        except (TimeoutError, StorageError):
            return False
        return True


def _service_account_tokens(config: APIServerConfig) -> ServiceAccountTokens | None:
    """Signing and verification keys for ServiceAccount tokens (None when not configured)."""
    from pathlib import Path

    from kubeling.apiserver import jwt

    signing = None
    if config.service_account_signing_key_file:
        signing = jwt.load_private_key(Path(config.service_account_signing_key_file).read_bytes())
    keys: list[jwt.PublicKey] = []
    for path in config.service_account_key_files:
        keys += jwt.load_public_keys(Path(path).read_bytes())
    if signing is not None and not keys:
        keys = [signing.public_key()]
    if signing is None and not keys:
        return None
    return ServiceAccountTokens(config.service_account_issuer, signing, keys, list(config.api_audiences))


def version_info() -> dict[str, str]:
    import platform

    major, minor = kubeling.KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"{kubeling.KUBERNETES_VERSION}+kubeling-{kubeling.__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"linux/{platform.machine().replace('x86_64', 'amd64').replace('aarch64', 'arm64')}",
    }


async def run(config: APIServerConfig) -> None:
    """Run the apiserver until SIGTERM/SIGINT."""
    await serve_until_signalled(APIServer(config))


async def serve_until_signalled(server: APIServer) -> None:
    """Start ``server``, serve until SIGTERM or SIGINT, then stop it."""
    import signal

    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
