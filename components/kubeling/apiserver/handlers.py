"""HTTP handlers for resource requests.

Each handler turns one request into calls on the resource's
:class:`~kubeling.apiserver.store.ResourceStore` and encodes the answer as the
client negotiated.  Patching, server-side apply, Table printing and selectors
are pure helpers from ``kubeling.api``; this module only wires them to HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from kubeling.api import errors, patch, selectors, tables
from kubeling.api.resources import Resource
from kubeling.apiserver import fields, podsubresources, reviews
from kubeling.apiserver.negotiation import Shape, Target, decode_body, encode, negotiate
from kubeling.apiserver.objects import Obj, deep_copy, now_rfc3339
from kubeling.apiserver.requestinfo import RequestInfo
from kubeling.apiserver.store import DeleteOptions, ResourceStore, WriteContext

if TYPE_CHECKING:
    from kubeling.apiserver.app import APIServer

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024
_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}
BOOKMARK_INTERVAL = 30.0


def respond(
    request: web.Request | None,
    body: Any,
    *,
    status: int = 200,
    target: Target | None = None,
    warnings: list[str] | None = None,
) -> web.Response:
    target = target or negotiate(request.headers.get("Accept") if request is not None else None)
    headers = {"Content-Type": target.media_type, "Cache-Control": "no-cache, private"}
    response = web.Response(body=encode(body, target.media_type), status=status, headers=headers)
    for warning in warnings or ():
        response.headers.add("Warning", f'299 - "{warning}"')
    return response


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _int_param(query: Any, name: str, default: int = 0) -> int:
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise errors.bad_request(f"invalid {name} parameter: {value!r}") from None
    if parsed < 0:
        raise errors.bad_request(f"{name} must not be negative")
    return parsed


def _bool_param(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("1", "true")


class ResourceHandler:
    def __init__(self, server: APIServer) -> None:
        self.server = server

    # -- entry ----------------------------------------------------------------

    async def handle(
        self, request: web.Request, info: RequestInfo, resource: Resource, user: Any
    ) -> web.StreamResponse:
        if resource.group in reviews.REVIEW_GROUPS:
            if info.verb != "create":
                raise errors.method_not_allowed(f"{resource.qualified} supports create only")
            body = decode_body(await read_body(request), request.headers.get("Content-Type"))
            return respond(
                request, reviews.answer(self.server, resource, info.namespace, body, user), status=201
            )
        store = self.server.store_for(resource)
        sub = info.subresource
        if sub and sub not in resource.subresources:
            raise errors.not_found(resource.group, f"{resource.plural}/{sub}", info.name)
        if len(info.parts) > 3:
            raise errors.not_found("", "", info.path)
        if info.verb not in resource.verbs and not sub:
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource "
                f"({info.verb} {resource.qualified})"
            )
        if (
            resource.namespaced
            and not info.namespace
            and info.verb in ("create", "get", "update", "patch", "delete", "deletecollection")
        ):
            raise errors.not_found(resource.group, resource.plural, info.name or "")
        ctx = WriteContext(
            user=getattr(user, "name", "system:anonymous"),
            groups=tuple(getattr(user, "groups", ())),
            dry_run=self._dry_run(request),
            field_manager=self._field_manager(request),
            subresource=sub,
        )
        if sub == "scale":
            return await self._scale(request, info, store, ctx)
        if sub == "binding":
            return await self._binding(request, info, store, ctx)
        if sub == "finalize":
            return await self._finalize(request, info, store, ctx)
        if resource.group == "" and resource.plural == "pods" and sub == "eviction":
            if request.method != "POST":
                raise errors.method_not_allowed("eviction supports create only")
            body = decode_body(await read_body(request), request.headers.get("Content-Type"))
            return await podsubresources.evict(self.server, store, info.namespace, info.name, body, ctx)
        if resource.group == "" and resource.plural == "pods" and sub in podsubresources.STREAMING:
            pod = await store.get(info.namespace, info.name)
            podsubresources.check_streamable(pod, sub, request.query.get("container"))
        if resource.group == "" and resource.plural == "serviceaccounts" and sub == "token":
            return await self._token_request(request, info, store)
        if sub and sub not in ("status", "approval"):
            # Served by a later component (kubelet proxy, token issuer): not here yet.
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        verb = info.verb
        if verb == "get":
            return respond(
                request, self._shape_one(request, resource, await store.get(info.namespace, info.name))
            )
        if verb == "list":
            return await self._list(request, info, store)
        if verb == "watch":
            return await self._watch(request, info, store)
        if verb == "create":
            return await self._create(request, info, store, ctx)
        if verb == "update":
            return await self._update(request, info, store, ctx)
        if verb == "patch":
            return await self._patch(request, info, store, ctx)
        if verb == "delete":
            return await self._delete(request, info, store, ctx)
        if verb == "deletecollection":
            return await self._delete_collection(request, info, store, ctx)
        raise errors.method_not_allowed(f"unsupported verb {verb}")

    def _dry_run(self, request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for value in values:
            if value != "All":
                raise errors.bad_request(f'Invalid dryRun value: "{value}": supported values: "All"')
        return bool(values)

    def _field_manager(self, request: web.Request) -> str:
        manager = request.query.get("fieldManager", "")
        if len(manager) > 128:
            raise errors.bad_request("fieldManager must not be longer than 128 characters")
        if not manager:
            # Upstream names an unnamed manager after the client's user agent.
            manager = request.headers.get("User-Agent", "unknown").split("/")[0][:128] or "unknown"
        return manager

    # -- shaping ----------------------------------------------------------------

    def _shape_one(self, request: web.Request, resource: Resource, obj: Obj) -> Obj:
        target = negotiate(request.headers.get("Accept"))
        if target.shape is Shape.TABLE:
            table = tables.to_table(
                resource, [obj], include_object=request.query.get("includeObject", "Metadata")
            )
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return table
        if target.shape in (Shape.METADATA, Shape.METADATA_LIST):
            return {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        return obj

    # -- reads ------------------------------------------------------------------

    def _matcher(self, request: web.Request, resource: Resource) -> Callable[[Obj], bool] | None:
        label_text = request.query.get("labelSelector", "")
        field_text = request.query.get("fieldSelector", "")
        label = selectors.parse_label_selector(label_text) if label_text else None
        field = selectors.parse_field_selector(field_text).matcher(resource) if field_text else None
        if label is None and field is None:
            return None

        def matches(obj: Obj) -> bool:
            if label is not None and not label.matches((obj.get("metadata") or {}).get("labels") or {}):
                return False
            return field is None or field(obj)

        return matches

    async def _list(self, request: web.Request, info: RequestInfo, store: ResourceStore) -> web.Response:
        query = request.query
        resource = store.resource
        target = negotiate(request.headers.get("Accept"))
        rv_match = query.get("resourceVersionMatch", "")
        if rv_match not in ("", "Exact", "NotOlderThan"):
            raise errors.bad_request(f'invalid resourceVersionMatch "{rv_match}"')
        if rv_match and not query.get("resourceVersion"):
            raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
        items, rv, token, remaining = await store.list(
            info.namespace,
            matches=self._matcher(request, resource),
            limit=_int_param(query, "limit"),
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
            resource_version_match=rv_match,
        )
        metadata: dict[str, Any] = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
        if target.shape is Shape.TABLE:
            body = tables.to_table(resource, items, include_object=query.get("includeObject", "Metadata"))
            body["metadata"] = metadata
        elif target.shape in (Shape.METADATA, Shape.METADATA_LIST):
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
                "items": [
                    {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o["metadata"],
                    }
                    for o in items
                ],
            }
        else:
            body = {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": metadata,
                "items": items,
            }
        return respond(request, body, target=target)

    async def _watch(
        self, request: web.Request, info: RequestInfo, store: ResourceStore
    ) -> web.StreamResponse:
        query = request.query
        resource = store.resource
        target = negotiate(request.headers.get("Accept"))
        matcher = self._matcher(request, resource) or (lambda _o: True)
        rv = query.get("resourceVersion", "")
        send_initial = query.get("sendInitialEvents", "").lower() == "true"
        bookmarks = _bool_param(query, "allowWatchBookmarks")
        timeout = _int_param(query, "timeoutSeconds", 0) or random.randint(1800, 3600)
        initial: list[Obj] = []
        if rv in ("", "0") or send_initial:
            if rv == "":
                await store._fresh_cache()
            initial = [o for o in store.snapshot(info.namespace) if matcher(o)]
            watcher = store.watch(info.namespace, matches=matcher, since=None)
        else:
            since = int(rv) if rv.isdigit() else None
            if since is None:
                raise errors.bad_request(f'invalid resource version "{rv}"')
            if since > store.cache.revision and not await store.cache.wait_for(since):
                raise errors.timeout(f"Too large resource version: {since}, current: {store.cache.revision}")
            watcher = store.watch(info.namespace, matches=matcher, since=since)

        response = web.StreamResponse(
            headers={
                "Content-Type": target.media_type
                if target.media_type == "application/json"
                else "application/json",
                "Cache-Control": "no-cache, private",
                "Transfer-Encoding": "chunked",
            }
        )
        await response.prepare(request)
        columns_sent = False

        def frame(kind: str, obj: Obj) -> bytes:
            nonlocal columns_sent
            if target.shape is Shape.TABLE and kind != "BOOKMARK":
                table = tables.to_table(
                    resource, [obj], include_object=query.get("includeObject", "Metadata")
                )
                table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                if columns_sent:
                    table["columnDefinitions"] = []
                columns_sent = True
                obj = table
            elif target.shape in (Shape.METADATA, Shape.METADATA_LIST) and kind != "BOOKMARK":
                obj = {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                }
            return orjson.dumps({"type": kind, "object": obj}) + b"\n"

        def bookmark(annotations: dict[str, str] | None = None) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(store.cache.revision)}
            if annotations:
                meta["annotations"] = annotations
            return (
                orjson.dumps(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": resource.kind,
                            "apiVersion": resource.api_version,
                            "metadata": meta,
                        },
                    }
                )
                + b"\n"
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            for obj in initial:
                await response.write(frame("ADDED", obj))
            if send_initial and bookmarks:
                await response.write(bookmark({"k8s.io/initial-events-end": "true"}))
            next_bookmark = loop.time() + BOOKMARK_INTERVAL
            while True:
                now = loop.time()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark) - now
                try:
                    async with asyncio.timeout(wait):
                        item = await watcher.queue.get()
                except TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        await response.write(bookmark())
                        next_bookmark = loop.time() + BOOKMARK_INTERVAL
                    continue
                if item is None:
                    break  # the cache closed us (slow consumer or reload): the client resumes
                await response.write(frame(*item))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            store.cache.forget(watcher)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    # -- writes -----------------------------------------------------------------

    async def _decode_object(self, request: web.Request, resource: Resource, ctx: WriteContext) -> Obj:
        body = decode_body(await read_body(request), request.headers.get("Content-Type"))
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        ctx.fields_known = fields.check_unknown(
            resource, body, request.query.get("fieldValidation", ""), ctx.warnings
        )
        return body

    async def _create(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        body = await self._decode_object(request, store.resource, ctx)
        if info.name:
            raise errors.method_not_allowed("POST is not allowed on a named resource")
        fields.track(store.resource, None, body, ctx, now_rfc3339())
        obj = await store.create(info.namespace, body, ctx)
        return respond(request, obj, status=201, warnings=ctx.warnings)

    async def _update(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        body = await self._decode_object(request, store.resource, ctx)
        now = now_rfc3339()

        def mutate(current: Obj) -> Obj:
            desired = deep_copy(body)
            fields.track(store.resource, current, desired, ctx, now)
            return desired

        if ctx.subresource:
            obj, created = await store.guaranteed_update(info.namespace, info.name, mutate, ctx)
        else:
            try:
                current = await store.get(info.namespace, info.name)
            except errors.StatusError as exc:
                if exc.code != 404:
                    raise
                current = None
            fields.track(store.resource, current, body, ctx, now)
            obj, created = await store.update(info.namespace, info.name, body, ctx)
        return respond(request, obj, status=201 if created else 200, warnings=ctx.warnings)

    async def _patch(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        resource = store.resource
        media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        kind = _PATCH_TYPES.get(media)
        if kind is None:
            raise errors.unsupported_media_type(media or "(none)")
        raw = await read_body(request)
        document = decode_body(raw, "application/yaml" if kind == "apply" else "application/json")
        validation_mode = request.query.get("fieldValidation", "")
        now = now_rfc3339()
        if kind == "apply":
            if not request.query.get("fieldManager"):
                raise errors.bad_request("PATCH, fieldManager is required for apply requests")
            if not isinstance(document, dict):
                raise errors.bad_request("the apply patch must be an object")
            ctx.fields_known = fields.check_unknown(resource, document, validation_mode, ctx.warnings)
            force = _bool_param(request.query, "force")

            def apply_mutation(current: Obj) -> Obj:
                return fields.apply(resource, current, document, ctx, force, now)

            def fresh() -> Obj:
                return {
                    "apiVersion": resource.api_version,
                    "kind": resource.kind,
                    "metadata": {"name": info.name, "namespace": info.namespace}
                    if resource.namespaced
                    else {"name": info.name},
                }

            obj, created = await store.guaranteed_update(
                info.namespace, info.name, apply_mutation, ctx, create_if_missing=fresh
            )
            return respond(request, obj, status=201 if created else 200, warnings=ctx.warnings)

        schema = fields.schema_of(resource)

        def mutate(current: Obj) -> Obj:
            before = deep_copy(current)
            if kind == "json":
                if not isinstance(document, list):
                    raise errors.bad_request("json patch must be a list of operations")
                patched = patch.json_patch(current, document)
            elif not isinstance(document, dict):
                raise errors.bad_request("the patch must be a JSON object")
            elif kind == "merge" or schema is None or resource.is_custom:
                if kind == "strategic" and resource.is_custom:
                    raise errors.unsupported_media_type(
                        "strategic merge patch is not supported for custom resources: use merge patch"
                    )
                patched = patch.merge_patch(current, document)
            else:
                patched = patch.strategic_merge_patch(current, document, schema)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patched object must be a JSON object")
            ctx.fields_known = fields.check_unknown(resource, patched, validation_mode, ctx.warnings)
            # resourceVersion in a patch is a precondition; absent, the patch applies to the latest.
            wanted = (
                (document.get("metadata") or {}).get("resourceVersion")
                if isinstance(document, dict)
                else None
            )
            patched.setdefault("metadata", {})["resourceVersion"] = wanted or ""
            fields.track(resource, before, patched, ctx, now)
            return patched

        obj, _ = await store.guaranteed_update(info.namespace, info.name, mutate, ctx)
        return respond(request, obj, warnings=ctx.warnings)

    async def _delete(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        raw = await read_body(request)
        body = decode_body(raw, "application/json") if raw.strip() else None
        if body is not None and not isinstance(body, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        if body and body.get("dryRun"):
            ctx.dry_run = True
        options = DeleteOptions.from_body(body, dict(request.query))
        obj, deleted_now = await store.delete(info.namespace, info.name, options, ctx)
        # Upstream answers 202 only when a lingering object was deleted with the
        # legacy orphanDependents=false; every other delete is 200 with the object.
        legacy_cascade = (body or {}).get("orphanDependents") is False
        return respond(request, obj, status=202 if legacy_cascade and not deleted_now else 200)

    async def _delete_collection(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        raw = await read_body(request)
        body = decode_body(raw, "application/json") if raw.strip() else None
        options = DeleteOptions.from_body(body if isinstance(body, dict) else None, dict(request.query))
        items, rv, _, _ = await store.list(info.namespace, matches=self._matcher(request, store.resource))
        deleted: list[Obj] = []
        for item in items:
            meta = item["metadata"]
            try:
                obj, _ = await store.delete(meta.get("namespace", ""), meta["name"], options, ctx)
            except errors.StatusError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(obj)
        resource = store.resource
        return respond(
            request,
            {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": rv},
                "items": deleted,
            },
        )

    # -- subresources -------------------------------------------------------------

    async def _scale(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        if request.method == "GET":
            return respond(request, _to_scale(await store.get(info.namespace, info.name)))
        if request.method not in ("PUT", "PATCH"):
            raise errors.method_not_allowed("scale supports get, update and patch")
        raw = await read_body(request)
        media = (request.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        document = decode_body(raw, "application/yaml" if media.endswith("yaml") else "application/json")
        ctx.subresource = "scale"

        def mutate(current: Obj) -> Obj:
            scale = _to_scale(current)
            if request.method == "PUT":
                wanted = document
            elif media == "application/json-patch+json":
                wanted = patch.json_patch(scale, document)
            else:
                wanted = patch.merge_patch(scale, document if isinstance(document, dict) else {})
            if not isinstance(wanted, dict):
                raise errors.bad_request("the scale must be an object")
            replicas = (wanted.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid(
                    "autoscaling",
                    "Scale",
                    info.name,
                    [
                        errors.Cause(
                            "FieldValueInvalid",
                            f"Invalid value: {replicas}: must be greater than or equal to 0",
                            "spec.replicas",
                        )
                    ],
                )
            wanted_rv = (wanted.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.stale_update(store.resource.group, store.resource.plural, info.name)
            before = deep_copy(current)
            current.setdefault("spec", {})["replicas"] = replicas
            current["metadata"]["resourceVersion"] = ""
            fields.track(store.resource, before, current, ctx, now_rfc3339())
            return current

        ctx.subresource = ""
        obj, _ = await store.guaranteed_update(info.namespace, info.name, mutate, ctx)
        return respond(request, _to_scale(obj))

    async def _binding(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        if request.method != "POST":
            raise errors.method_not_allowed("binding supports create only")
        body = decode_body(await read_body(request), request.headers.get("Content-Type"))
        return await bind_pod(request, store, info.namespace, info.name, body, ctx)

    async def _token_request(
        self, request: web.Request, info: RequestInfo, store: ResourceStore
    ) -> web.Response:
        """TokenRequest (serviceaccounts/NAME/token): a signed, audience-bound, expiring token."""
        if request.method != "POST":
            raise errors.method_not_allowed("token supports create only")
        tokens = self.server.service_accounts
        if tokens is None:
            raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")
        body = decode_body(await read_body(request), request.headers.get("Content-Type"))
        if not isinstance(body, dict):
            raise errors.bad_request("the TokenRequest must be an object")
        account = await store.get(info.namespace, info.name)
        bound = None
        ref = (body.get("spec") or {}).get("boundObjectRef")
        if isinstance(ref, dict):
            plural = {"Pod": "pods", "Secret": "secrets"}.get(ref.get("kind", ""))
            if plural is None:
                raise errors.bad_request(
                    f"cannot bind a token to a {ref.get('kind')!r}: use a Pod or a Secret"
                )
            bound = self.server.lookup("", plural, info.namespace, ref.get("name", ""))
            if bound is None:
                raise errors.not_found("", plural, ref.get("name", ""))
            if ref.get("uid") and ref["uid"] != bound["metadata"].get("uid"):
                raise errors.conflict(
                    "", plural, ref.get("name", ""), "the UID in the bound object reference differs"
                )
            bound = {**bound, "kind": ref["kind"]}
        status = tokens.issue(account, body, bound)
        spec = dict(body.get("spec") or {})
        spec.setdefault("audiences", tokens.api_audiences)
        spec.setdefault("expirationSeconds", 3600)
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": info.name, "namespace": info.namespace, "creationTimestamp": now_rfc3339()},
            "spec": spec,
            "status": status,
        }
        return respond(request, answer, status=201)

    async def _finalize(
        self, request: web.Request, info: RequestInfo, store: ResourceStore, ctx: WriteContext
    ) -> web.Response:
        if request.method != "PUT":
            raise errors.method_not_allowed("finalize supports update only")
        body = decode_body(await read_body(request), request.headers.get("Content-Type"))
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        finalizers = (body.get("spec") or {}).get("finalizers") or []

        def mutate(current: Obj) -> Obj:
            current.setdefault("spec", {})["finalizers"] = finalizers
            current["metadata"]["resourceVersion"] = (body.get("metadata") or {}).get("resourceVersion", "")
            return current

        ctx.subresource = "finalize"
        obj, _ = await store.guaranteed_update(info.namespace, info.name, mutate, ctx)
        return respond(request, obj)


async def bind_pod(
    request: web.Request, store: ResourceStore, namespace: str, name: str, body: Any, ctx: WriteContext
) -> web.Response:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("target"), dict)
        or not body["target"].get("name")
    ):
        raise errors.invalid(
            "", "Binding", name, [errors.Cause("FieldValueRequired", "Required value", "target.name")]
        )
    node = body["target"]["name"]
    wanted_uid = (body.get("metadata") or {}).get("uid")
    ctx.subresource = "binding"
    # The pod comes from storage, pruned when it was written, and the mutation
    # below only sets schema fields: pruning it again would find nothing.
    ctx.fields_known = True

    def mutate(current: Obj) -> Obj:
        meta = current["metadata"]
        if wanted_uid and wanted_uid != meta.get("uid"):
            raise errors.conflict(
                "",
                "pods",
                name,
                "Precondition failed: UID in precondition: "
                f"{wanted_uid}, UID in object meta: {meta.get('uid')}",
            )
        if meta.get("deletionTimestamp"):
            raise errors.conflict("", "pods", name, "pod is being deleted, cannot be assigned to a host")
        spec = current.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.conflict(
                "", "pods", name, f'pod {name} is already assigned to node "{spec["nodeName"]}"'
            )
        spec["nodeName"] = node
        status = current.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            }
        )
        status["conditions"] = conditions
        meta["resourceVersion"] = ""
        return current

    # The binding writes spec and status at once, bypassing the spec/status split.
    # The scheduler binds pods it just saw being created: start from the cache.
    await store.guaranteed_update(namespace, name, mutate, ctx, cached_first=True)
    return respond(
        request,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        status=201,
    )


def _to_scale(obj: Obj) -> Obj:
    meta = obj["metadata"]
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    if isinstance(selector, dict) and ("matchLabels" in selector or "matchExpressions" in selector):
        selector_text = selectors.label_selector_from_dict(selector).to_string()
    elif isinstance(selector, dict):  # ReplicationController: a plain map
        selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    else:
        selector_text = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_text},
    }
