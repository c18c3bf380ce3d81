"""The generic REST store: upstream's registry semantics for every resource.

One ``ResourceStore`` per served resource.  It owns what every kind shares —
object metadata (uid, creationTimestamp, generation, resourceVersion),
optimistic concurrency, the spec/status split, generateName, dryRun,
graceful deletion, finalizers and propagation policy — and delegates what
differs to a :class:`~kubeling.apiserver.strategies.Strategy` (defaulting,
validation and per-kind hooks such as a Service's clusterIP allocation).

Writes go straight to storage with a revision guard; reads of single objects
come from storage (quorum reads), lists and watches from the watch cache.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeling.api import conversion, errors
from kubeling.api.resources import Resource
from kubeling.apiserver.admission.chain import AdmissionChain
from kubeling.apiserver.admission.interface import Attributes
from kubeling.apiserver.objects import Obj, deep_copy, encode, from_kv, now_rfc3339
from kubeling.apiserver.strategies import Strategy
from kubeling.apiserver.watchcache import TooOldError, WatchCache, Watcher
from kubeling.storage import (
    CompactedError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    Storage,
    UnavailableError,
)

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_RETRIES = 16


@dataclass
class WriteContext:
    """What a write request carries besides its body."""

    user: str = "system:anonymous"
    groups: tuple[str, ...] = ()
    dry_run: bool = False
    field_manager: str = ""
    subresource: str = ""
    warnings: list[str] = field(default_factory=list)
    # Set when the body was checked against the schema and held no unknown
    # field, so pruning (a second walk of the same object) can be skipped.
    fields_known: bool = False


# DELETE without a propagationPolicy orphans the dependents of these, for backwards
# compatibility (upstream's DefaultGarbageCollectionPolicy); everything else cascades.
_ORPHAN_BY_DEFAULT = frozenset({("", "v1", "replicationcontrollers"), ("batch", "v1", "jobs")})
_GC_FINALIZERS = ("orphan", "foregroundDeletion")


def gc_finalizers(finalizers: list[str], policy: str | None, resource: Resource) -> list[str]:
    """The object's finalizers after a DELETE with ``policy``, as upstream's deletion finalizers.

    Orphan adds ``orphan`` (dropping ``foregroundDeletion``), Foreground the
    reverse, Background drops both; no policy keeps one already set, else
    follows the kind's default.
    """
    if policy is None:
        if any(f in finalizers for f in _GC_FINALIZERS):
            return finalizers
        key = (resource.group, resource.version, resource.plural)
        policy = "Orphan" if key in _ORPHAN_BY_DEFAULT else None
    if policy is None:
        return finalizers
    kept = [f for f in finalizers if f not in _GC_FINALIZERS]
    if policy == "Orphan":
        kept.append("orphan")
    elif policy == "Foreground":
        kept.append("foregroundDeletion")
    return kept


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Orphan | Background | Foreground
    precondition_uid: str | None = None
    precondition_rv: str | None = None

    @classmethod
    def from_body(cls, body: dict | None, query: dict[str, str]) -> DeleteOptions:
        body = body or {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        if policy is None and "orphanDependents" in body:
            policy = "Orphan" if body["orphanDependents"] else "Background"
        if policy is None and "orphanDependents" in query:
            policy = "Orphan" if query["orphanDependents"] == "true" else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid(
                "",
                "DeleteOptions",
                "",
                [
                    errors.Cause(
                        "FieldValueNotSupported",
                        f'Unsupported value: "{policy}": supported values: '
                        '"Background", "Foreground", "Orphan"',
                        "propagationPolicy",
                    )
                ],
            )
        pre = body.get("preconditions") or {}
        try:
            grace_int = None if grace is None else int(grace)
        except (TypeError, ValueError):
            raise errors.bad_request(f"invalid gracePeriodSeconds: {grace!r}") from None
        if grace_int is not None and grace_int < 0:
            grace_int = 1  # upstream treats negative grace as "as soon as possible" with 1s
        return cls(grace_int, policy, pre.get("uid"), pre.get("resourceVersion"))


def _spec_part(obj: Obj) -> Obj:
    """Everything that drives metadata.generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ResourceStore:
    def __init__(
        self,
        resource: Resource,
        storage: Storage,
        cache: WatchCache,
        strategy: Strategy,
        *,
        admission: AdmissionChain | None = None,
    ) -> None:
        self.resource = resource
        self.storage = storage
        self.cache = cache
        self.strategy = strategy
        self._admission = admission
        # Objects live in storage in the storage version; requests may use another.
        convert = conversion.converters(resource)
        self._to_served = convert[0] if convert else None
        self._to_storage = convert[1] if convert else None

    # -- helpers -------------------------------------------------------------

    def _read(self, kv: KeyValue) -> Obj:
        obj = from_kv(kv)
        return self._to_served(obj) if self._to_served else obj

    def _served(self, obj: Obj) -> Obj:
        return self._to_served(obj) if self._to_served else obj

    def _encode(self, obj: Obj) -> bytes:
        return encode(self._to_storage(obj) if self._to_storage else obj)

    def _not_found(self, name: str) -> errors.StatusError:
        return errors.not_found(self.resource.group, self.resource.plural, name)

    def _key(self, namespace: str, name: str) -> str:
        return self.resource.key(namespace, name)

    def _check_kind(self, obj: Any) -> Obj:
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        resource = self.resource
        api_version = obj.get("apiVersion")
        if api_version not in (None, "", resource.api_version):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({resource.api_version})"
            )
        kind = obj.get("kind")
        if kind not in (None, "", resource.kind):
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
            )
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        metadata = obj.get("metadata")
        if metadata is None:
            obj["metadata"] = {}
        elif not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        return obj

    def _check_namespace(self, obj: Obj, namespace: str) -> None:
        metadata = obj["metadata"]
        if self.resource.namespaced:
            body_ns = metadata.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace or body_ns or ""
            if not metadata["namespace"]:
                raise errors.bad_request("the namespace of the object must be set")
        else:
            metadata.pop("namespace", None)

    async def get(self, namespace: str, name: str) -> Obj:
        kv = await self.storage.get(self._key(namespace, name))
        if kv is None:
            raise self._not_found(name)
        return self._read(kv)

    async def _get_kv(self, namespace: str, name: str):
        kv = await self.storage.get(self._key(namespace, name))
        if kv is None:
            raise self._not_found(name)
        return kv

    # -- create --------------------------------------------------------------

    async def create(self, namespace: str, body: Any, ctx: WriteContext) -> Obj:
        obj = self._check_kind(body)
        self._check_namespace(obj, namespace)
        metadata = obj["metadata"]
        generate = metadata.get("generateName")
        if not metadata.get("name") and not generate:
            raise errors.invalid(
                self.resource.group,
                self.resource.kind,
                "",
                [errors.Cause("FieldValueRequired", "name or generateName is required", "metadata.name")],
            )
        for stale in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            metadata.pop(stale, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        metadata["generation"] = 1
        if not metadata.get("name"):
            metadata["name"] = generate + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
        self.strategy.prepare_for_create(obj, ctx)
        await self._admit("CREATE", obj, None, ctx)
        self.strategy.validate(obj, None, ctx)
        await self._admit_validate("CREATE", obj, None, ctx)
        await self.strategy.before_create(obj, ctx)
        if ctx.dry_run:
            return obj
        try:
            revision = await self.storage.create(
                self._key(metadata.get("namespace", ""), metadata["name"]), self._encode(obj)
            )
        except KeyExistsError:
            await self.strategy.undo_create(obj)
            raise errors.already_exists(self.resource.group, self.resource.plural, metadata["name"]) from None
        except BaseException:
            await self.strategy.undo_create(obj)
            raise
        metadata["resourceVersion"] = str(revision)
        return obj

    # -- update --------------------------------------------------------------

    async def update(
        self, namespace: str, name: str, body: Any, ctx: WriteContext, *, allow_create: bool = False
    ) -> tuple[Obj, bool]:
        """PUT.  Returns (object, created)."""
        obj = self._check_kind(body)
        metadata = obj["metadata"]
        if metadata.get("name") and metadata["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({metadata['name']}) does not match the name on the URL ({name})"
            )
        metadata["name"] = name
        self._check_namespace(obj, namespace)
        wanted_rv = metadata.get("resourceVersion") or ""
        kv = await self.storage.get(self._key(namespace, name))
        if kv is None:
            if allow_create or self.strategy.allow_create_on_update:
                if wanted_rv:
                    raise self._not_found(name)
                return await self.create(namespace, obj, ctx), True
            raise self._not_found(name)
        current = self._read(kv)
        if wanted_rv and wanted_rv != str(kv.mod_revision):
            raise errors.stale_update(self.resource.group, self.resource.plural, name)
        if not wanted_rv and not self.strategy.allow_unconditional_update:
            raise errors.invalid(
                self.resource.group,
                self.resource.kind,
                name,
                [
                    errors.Cause(
                        "FieldValueRequired", "must be specified for an update", "metadata.resourceVersion"
                    )
                ],
            )
        result = await self._write_update(current, obj, kv.mod_revision, ctx)
        return result, False

    async def guaranteed_update(
        self,
        namespace: str,
        name: str,
        mutate: Callable[[Obj], Obj | Awaitable[Obj]],
        ctx: WriteContext,
        *,
        create_if_missing: Callable[[], Obj] | None = None,
        cached_first: bool = False,
    ) -> tuple[Obj, bool]:
        """Read-modify-write with retries on revision races (patch, scale, status).

        ``mutate`` gets a private copy of the current object and returns the
        desired one; it may raise a StatusError.  When the object is missing
        and ``create_if_missing`` is given, the mutation of its result is created.

        ``cached_first`` starts from the watch cache's copy instead of a storage
        read, as upstream's cacher suggests its object to GuaranteedUpdate.  The
        guarded write still checks the revision against storage; whatever the
        possibly stale copy leads to (a lost race, an error, a no-op) is decided
        again on a live read, so the outcome is the same as reading storage first.
        """
        key = self._key(namespace, name)
        kv: KeyValue | None = None
        suggested = self.cache.get(key) if cached_first and not ctx.dry_run else None
        for _ in range(_MAX_RETRIES):
            live = suggested is None
            if suggested is not None:
                current = self._served(deep_copy(suggested))
                revision = int(current["metadata"]["resourceVersion"])
                suggested = None
            else:
                if kv is None:
                    kv = await self.storage.get(key)
                if kv is None:
                    if create_if_missing is None:
                        raise self._not_found(name)
                    desired = mutate(create_if_missing())
                    if isinstance(desired, Awaitable):
                        desired = await desired
                    return await self.create(namespace, desired, ctx), True
                current = self._read(kv)
                revision = kv.mod_revision
                kv = None
            try:
                desired = mutate(deep_copy(current))
                if isinstance(desired, Awaitable):
                    desired = await desired
                desired = self._check_kind(desired)
                wanted = desired["metadata"].get("resourceVersion")
                if wanted and wanted != str(revision):
                    raise errors.stale_update(self.resource.group, self.resource.plural, name)
                return await self._write_update(current, desired, revision, ctx, live=live), False
            except _Retry as retry:
                kv = retry.current  # the value that won the race, when storage told us
                continue
            except errors.StatusError:
                if live:
                    raise
                continue  # judged on a cached copy: judge again on the stored object
        raise errors.conflict(self.resource.group, self.resource.plural, name, "too many concurrent writes")

    async def _write_update(
        self, current: Obj, obj: Obj, revision: int, ctx: WriteContext, *, live: bool = True
    ) -> Obj:
        metadata = obj["metadata"]
        old_meta = current["metadata"]
        # Fields the server owns: a client can't change them.
        for owned in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if owned in old_meta:
                metadata[owned] = old_meta[owned]
            else:
                metadata.pop(owned, None)
        metadata.pop("selfLink", None)
        metadata["namespace"] = old_meta.get("namespace")
        if not self.resource.namespaced:
            metadata.pop("namespace", None)
        if ctx.subresource == "status":
            obj = self.strategy.status_update(current, obj)
        elif ctx.subresource == "approval":
            obj = self.strategy.approval_update(current, obj)
        elif ctx.subresource == "":
            obj = self.strategy.main_update(current, obj)
        metadata = obj["metadata"]
        if _spec_part(obj) != _spec_part(current):
            metadata["generation"] = int(old_meta.get("generation") or 0) + 1
        self.strategy.prepare_for_update(obj, current, ctx)
        await self._admit("UPDATE", obj, current, ctx)
        self.strategy.validate(obj, current, ctx)
        await self._admit_validate("UPDATE", obj, current, ctx)
        metadata["resourceVersion"] = str(revision)
        if obj == current:
            if not live:
                raise _Retry()  # a no-op against a cached copy: check against the stored object
            return current  # a no-op write keeps the resourceVersion, as upstream
        if metadata.get("deletionTimestamp") and not self._still_held(obj):
            return await self._delete_now(current, revision, ctx)
        if ctx.dry_run:
            return obj
        key = self._key(metadata.get("namespace", ""), metadata["name"])
        try:
            new_revision = await self.storage.update(key, self._encode(obj), expected_revision=revision)
        except RevisionMismatchError as exc:
            raise _Retry(exc.current) from None
        except KeyNotFoundError:
            raise self._not_found(metadata["name"]) from None
        metadata["resourceVersion"] = str(new_revision)
        return obj

    # -- admission ------------------------------------------------------------

    def _attributes(self, operation: str, obj: Obj, old: Obj | None, ctx: WriteContext) -> Attributes:
        meta = (obj.get("metadata") if obj else None) or (old or {}).get("metadata") or {}
        return Attributes(
            operation=operation,
            resource=self.resource,
            subresource=ctx.subresource,
            namespace=meta.get("namespace", "") if self.resource.namespaced else "",
            name=meta.get("name", ""),
            user=ctx.user,
            groups=ctx.groups,
            dry_run=ctx.dry_run,
        )

    async def _admit(self, operation: str, obj: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if self._admission is not None:
            await self._admission.admit(self._attributes(operation, obj, old, ctx), obj, old)

    async def _admit_validate(self, operation: str, obj: Obj, old: Obj | None, ctx: WriteContext) -> None:
        if self._admission is not None:
            await self._admission.validate(self._attributes(operation, obj, old, ctx), obj, old)

    # -- delete --------------------------------------------------------------

    def _still_held(self, obj: Obj) -> bool:
        """An object marked for deletion stays while finalizers or a grace period hold it."""
        metadata = obj["metadata"]
        return bool(
            metadata.get("finalizers")
            or self.strategy.deletion_finalizers(obj)
            or int(metadata.get("deletionGracePeriodSeconds") or 0) > 0
        )

    async def delete(
        self, namespace: str, name: str, options: DeleteOptions, ctx: WriteContext
    ) -> tuple[Obj, bool]:
        """DELETE.  Returns (object, deleted_now); deleted_now is False when the
        object stays for finalizers or a graceful termination."""
        for _ in range(_MAX_RETRIES):
            kv = await self._get_kv(namespace, name)
            current = self._read(kv)
            meta = current["metadata"]
            await self._admit("DELETE", {}, current, ctx)
            if options.precondition_uid and options.precondition_uid != meta.get("uid"):
                raise errors.conflict(
                    self.resource.group,
                    self.resource.plural,
                    name,
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                    f"UID in object meta: {meta.get('uid')}",
                )
            if options.precondition_rv and options.precondition_rv != str(kv.mod_revision):
                raise errors.conflict(
                    self.resource.group,
                    self.resource.plural,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {options.precondition_rv}, "
                    f"ResourceVersion in object meta: {kv.mod_revision}",
                )
            updated = deep_copy(current)
            umeta = updated["metadata"]
            finalizers = gc_finalizers(
                list(umeta.get("finalizers") or []), options.propagation_policy, self.resource
            )
            grace = self.strategy.grace_period(current, options.grace_period_seconds)
            already_deleting = bool(meta.get("deletionTimestamp"))
            extra_finalizers = self.strategy.deletion_finalizers(current)
            if not finalizers and not extra_finalizers and not grace:
                try:
                    return await self._delete_now(current, kv.mod_revision, ctx), True
                except _Retry:
                    continue
            # The object stays: mark it.  A shorter grace period may replace a longer one.
            umeta["finalizers"] = finalizers if finalizers else umeta.pop("finalizers", None)
            if umeta.get("finalizers") is None:
                umeta.pop("finalizers", None)
            if not already_deleting:
                umeta["deletionTimestamp"] = _timestamp_after(grace or 0)
                umeta["deletionGracePeriodSeconds"] = grace or 0
            elif grace is not None and grace < int(meta.get("deletionGracePeriodSeconds") or 0):
                umeta["deletionTimestamp"] = _timestamp_after(grace)
                umeta["deletionGracePeriodSeconds"] = grace
            self.strategy.prepare_for_delete(updated)
            if updated == current:
                return current, False
            if ctx.dry_run:
                return updated, False
            try:
                revision = await self.storage.update(
                    kv.key, self._encode(updated), expected_revision=kv.mod_revision
                )
            except RevisionMismatchError:
                continue
            umeta["resourceVersion"] = str(revision)
            return updated, False
        raise errors.conflict(self.resource.group, self.resource.plural, name, "too many concurrent writes")

    async def _delete_now(self, current: Obj, revision: int, ctx: WriteContext) -> Obj:
        meta = current["metadata"]
        if ctx.dry_run:
            return current
        key = self._key(meta.get("namespace", ""), meta["name"])
        try:
            deleted = await self.storage.delete(key, expected_revision=revision)
        except RevisionMismatchError:
            raise _Retry() from None
        except KeyNotFoundError:
            raise self._not_found(meta["name"]) from None
        await self.strategy.after_delete(current)
        current = dict(current)
        current["metadata"] = {**meta, "resourceVersion": str(deleted.mod_revision)}
        return current

    # -- list and watch --------------------------------------------------------

    async def list(
        self,
        namespace: str,
        *,
        matches: Callable[[Obj], bool] | None,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> tuple[list[Obj], str, str, int | None]:
        """Returns (items, list resourceVersion, continue token, remainingItemCount)."""
        prefix = self.resource.namespace_prefix(namespace)
        if continue_token or (limit and resource_version != "0") or resource_version_match == "Exact":
            return await self._list_from_storage(
                prefix, matches, limit, continue_token, resource_version, resource_version_match
            )
        if resource_version in ("", None):
            await self._fresh_cache()
        elif resource_version != "0":
            wanted = _parse_rv(resource_version)
            if not await self.cache.wait_for(wanted):
                raise errors.timeout(f"Too large resource version: {wanted}, current: {self.cache.revision}")
        items = self.snapshot(namespace)
        if matches is not None:
            items = [o for o in items if matches(o)]
        return items, str(self.cache.revision), "", None

    async def _fresh_cache(self) -> None:
        try:
            fresh = await self.cache.wait_fresh()
        except UnavailableError:
            raise errors.StatusError(503, "ServiceUnavailable", "the datastore is unavailable") from None
        if not fresh:
            raise errors.timeout("Timeout: the watch cache did not catch up with the datastore in time")

    async def _list_from_storage(
        self,
        prefix: str,
        matches: Callable[[Obj], bool] | None,
        limit: int,
        continue_token: str,
        resource_version: str,
        resource_version_match: str,
    ) -> tuple[list[Obj], str, str, int | None]:
        revision = 0
        start = prefix
        if continue_token:
            if resource_version not in ("", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            revision, start = _decode_continue(continue_token, prefix)
        elif resource_version_match == "Exact":
            revision = _parse_rv(resource_version)
        elif resource_version not in ("", "0"):
            # NotOlderThan with a limit: serve the latest state (it is not older).
            _parse_rv(resource_version)
        items: list[Obj] = []
        more = False
        remaining: int | None = None
        try:
            while True:
                want = limit - len(items) if limit else 0
                if want and matches is not None:
                    want = max(want, 500)  # filtering drops items: read ahead rather than page by one
                page = await self.storage.list(prefix, revision=revision, limit=want, start_key=start)
                revision = page.revision
                full = False
                for index, kv in enumerate(page.items):
                    start = kv.key + "\x00"
                    obj = self._read(kv)
                    if matches is None or matches(obj):
                        items.append(obj)
                    if limit and len(items) >= limit:
                        left_in_page = len(page.items) - 1 - index
                        more = page.more or left_in_page > 0
                        if matches is None and more:
                            remaining = page.remaining + left_in_page
                        full = True
                        break
                if full or not page.more or not page.items:
                    break
        except CompactedError:
            raise errors.StatusError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can "
                "start a new list without the continue parameter, or use the continue token in this response "
                "to retrieve the remainder of the results.",
            ) from None
        token = _encode_continue(revision, start, prefix) if more else ""
        return items, str(revision), token, remaining

    def snapshot(self, namespace: str) -> list[Obj]:
        """Every cached object of this resource (in a namespace), in the served version."""
        items = self.cache.list(self.resource.storage_prefix, self.resource.namespace_prefix(namespace))
        return [self._to_served(o) for o in items] if self._to_served else items

    def watch(self, namespace: str, *, matches: Callable[[Obj], bool], since: int | None) -> Watcher:
        prefix = self.resource.namespace_prefix(namespace)
        try:
            return self.cache.watch(
                self.resource.storage_prefix, prefix, matches, since=since, convert=self._to_served
            )
        except TooOldError as exc:
            raise errors.gone(f"too old resource version: {exc.requested} ({exc.oldest})") from None


class _Retry(Exception):
    """A guarded write lost a race; the caller re-reads and tries again."""

    def __init__(self, current: KeyValue | None = None) -> None:
        super().__init__()
        self.current = current  # the stored value that won, when known (spares a read)


def _parse_rv(value: str) -> int:
    try:
        rv = int(value)
    except (TypeError, ValueError):
        raise errors.bad_request(f'invalid resource version "{value}"') from None
    if rv < 0:
        raise errors.bad_request(f'invalid resource version "{value}"')
    return rv


def _encode_continue(revision: int, start: str, prefix: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start[len(prefix) :]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        revision = int(data["rv"])
        start = str(data["start"])
    except Exception:
        raise errors.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion"
        ) from None
    if data.get("v") != "meta.k8s.io/v1" or revision <= 0 or start.startswith("/") or ".." in start:
        raise errors.bad_request("continue key is not valid")
    return revision, prefix + start


def _timestamp_after(seconds: int) -> str:
    import datetime

    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
