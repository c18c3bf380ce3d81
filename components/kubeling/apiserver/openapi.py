"""OpenAPI v3 documents, one per served group-version, as ``/openapi/v3`` publishes them.

kubectl reads these for ``explain``, for ``apply`` (patch merge keys, and
whether a kind takes strategic merge patch) and to learn that the server does
field validation itself (the ``fieldValidation`` parameter of each PATCH
operation); with no v3 document it falls back to v2 protobuf, then gives up.

Built-in schemas come from :mod:`kubeling.api.schemas` in JSON-Schema 2020-12
form and are converted once per process to OpenAPI 3.0 the way upstream
publishes them: one ``type`` (``"null"`` dropped), references rewritten to
``#/components/schemas/<name>`` (wrapped in ``allOf`` when the property adds
a description), IntOrString as ``format: int-or-string`` with a ``oneOf``,
``x-kubernetes-group-version-kind`` on every top-level kind (derived from the
single-valued apiVersion/kind enums, which are then removed: clients treat
them as the field's allowed values), every other ``x-kubernetes-*``
extension kept.  Custom resources get their schema from the CRD's served
version, with ``metadata`` pointing at ObjectMeta.

A document is assembled from the registry when first asked for and cached
with a fingerprint of the group-version's resources, so a CRD change is seen
on the next request even without :meth:`OpenAPIPublisher.invalidate`.  Each
document carries a SHA-512 hash (upper-case hex, like upstream) that the index
puts in ``serverRelativeURL`` and the HTTP layer can use as ETag.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from kubeling.api import schemas
from kubeling.api.resources import Registry, Resource

Schema = dict[str, Any]

_COMPONENTS = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_SCALE = "io.k8s.api.autoscaling.v1.Scale"
_SCALE_GVK = {"group": "autoscaling", "kind": "Scale", "version": "v1"}
# Definitions every group-version document references from its operations.
_COMMON = (
    f"{_META}APIResourceList",
    f"{_META}DeleteOptions",
    f"{_META}Patch",
    f"{_META}Status",
    f"{_META}WatchEvent",
)

_BUILTIN_MEDIA = ("application/json", "application/vnd.kubernetes.protobuf", "application/yaml")
_CUSTOM_MEDIA = ("application/json", "application/yaml")
_BUILTIN_PATCHES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_CUSTOM_PATCHES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)


# -- schema conversion -------------------------------------------------------------------


def _single_type(declared: Any) -> str | None:
    if isinstance(declared, str):
        return None if declared == "null" else declared
    if isinstance(declared, list):
        for candidate in declared:
            if candidate != "null":
                return candidate
    return None


def convert(node: Any) -> Any:
    """One JSON-Schema node (and everything under it) as OpenAPI 3.0."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "type":
            single = _single_type(value)
            if single:
                out["type"] = single
        elif key in ("properties", "patternProperties"):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "oneOf", "anyOf", "allOf"):
            out[key] = convert(value)
        elif key == "enum":
            values = [v for v in value if v is not None]
            if values:
                out["enum"] = values
        else:
            out[key] = copy.deepcopy(value)  # description, format, required, x-kubernetes-*, ...
    name = schemas.ref_name(node)
    if name is None:
        return out
    target = {"$ref": _COMPONENTS + name}
    # OpenAPI 3.0 ignores siblings of $ref: upstream wraps the reference in allOf.
    return {"allOf": [target], **out} if out else target


@functools.cache
def _gvks_by_name() -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for (group, version, kind), name in sorted(schemas.kinds().items()):
        found.setdefault(name, []).append({"group": group, "kind": kind, "version": version})
    return found


@functools.cache
def _converted(name: str) -> Schema:
    """A built-in definition in OpenAPI 3.0 form (cached: the definitions never change)."""
    raw = schemas.by_name(name) or {}
    if name == _INT_OR_STRING:
        return {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    if name == _QUANTITY:
        return {"oneOf": [{"type": "string"}, {"type": "number"}]}
    out = convert(raw)
    props = out.get("properties") or {}
    for field in ("apiVersion", "kind"):
        if isinstance(props.get(field), dict):
            props[field].pop("enum", None)
    gvks = list(out.get("x-kubernetes-group-version-kind") or [])
    for gvk in _gvks_by_name().get(name, []):
        if gvk not in gvks:
            gvks.append(gvk)
    if gvks:
        out["x-kubernetes-group-version-kind"] = gvks
    return out


def _refs(node: Any, into: set[str]) -> None:
    if isinstance(node, dict):
        name = schemas.ref_name(node)
        if name:
            into.add(name)
        for value in node.values():
            _refs(value, into)
    elif isinstance(node, list):
        for item in node:
            _refs(item, into)


@functools.cache
def _direct_refs(name: str) -> frozenset[str]:
    found: set[str] = set()
    _refs(schemas.by_name(name) or {}, found)
    return frozenset(found)


def reachable(roots: list[str]) -> list[str]:
    """Every built-in definition the roots reference, transitively, roots included."""
    seen: set[str] = set()
    stack = [r for r in roots if schemas.by_name(r) is not None]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(_direct_refs(name) - seen)
    return sorted(seen)


# -- custom resources ----------------------------------------------------------------------


def custom_schema_name(group: str, version: str, kind: str) -> str:
    """``stable.example.com`` v1 CronTab → ``com.example.stable.v1.CronTab`` (upstream's naming)."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _crd_version_schema(resource: Resource) -> Schema:
    for version in ((resource.crd or {}).get("spec") or {}).get("versions") or []:
        if version.get("name") == resource.version:
            found = (version.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(found, dict):
                return copy.deepcopy(found)
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


_API_VERSION_DOC = "APIVersion defines the versioned schema of this representation of an object."
_KIND_DOC = "Kind is a string value representing the REST resource this object represents."


def _custom_definitions(resource: Resource) -> dict[str, Schema]:
    gvk = {"group": resource.group, "kind": resource.kind, "version": resource.version}
    name = custom_schema_name(resource.group, resource.version, resource.kind)
    body = _crd_version_schema(resource)
    body["type"] = "object"
    props = body.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    props["kind"] = {"type": "string", "description": _KIND_DOC}
    props["metadata"] = {
        "allOf": [{"$ref": f"{_COMPONENTS}{_META}ObjectMeta"}],
        "description": "Standard object's metadata.",
    }
    body["x-kubernetes-group-version-kind"] = [gvk]
    listing: Schema = {
        "description": f"{resource.kind}List is a list of {resource.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DOC},
            "items": {"type": "array", "items": {"$ref": _COMPONENTS + name}},
            "kind": {"type": "string", "description": _KIND_DOC},
            "metadata": {
                "allOf": [{"$ref": f"{_COMPONENTS}{_META}ListMeta"}],
                "description": "Standard list metadata.",
            },
        },
        "x-kubernetes-group-version-kind": [{**gvk, "kind": resource.list_kind}],
    }
    return {name: body, name + "List": listing}


# -- paths -----------------------------------------------------------------------------------


def _camel(group: str) -> str:
    if not group:
        return "Core"
    parts = group.removesuffix(".k8s.io").replace("-", ".").split(".")
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def _query(name: str, kind: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": kind, "uniqueItems": True},
    }


_PARAMS: dict[str, Schema] = {
    "pretty": _query("pretty", "string", "If 'true', the output is indented."),
    "dryRun": _query("dryRun", "string", "When 'All', every stage runs but nothing is persisted."),
    "fieldManager": _query(
        "fieldManager", "string", "Name of the actor making the change; required for apply."
    ),
    "fieldValidation": _query(
        "fieldValidation", "string", "What to do with unknown or duplicate fields: Ignore, Warn or Strict."
    ),
    "force": _query("force", "boolean", "Apply: take over fields owned by other managers."),
    "gracePeriodSeconds": _query("gracePeriodSeconds", "integer", "Seconds to wait before deleting."),
    "orphanDependents": _query("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
    "propagationPolicy": _query("propagationPolicy", "string", "Orphan, Background or Foreground."),
    "allowWatchBookmarks": _query("allowWatchBookmarks", "boolean", "Ask for BOOKMARK watch events."),
    "continue": _query("continue", "string", "Token from a previous paginated list."),
    "fieldSelector": _query("fieldSelector", "string", "Restrict the objects by their fields."),
    "labelSelector": _query("labelSelector", "string", "Restrict the objects by their labels."),
    "limit": _query("limit", "integer", "Maximum number of objects in one response."),
    "resourceVersion": _query("resourceVersion", "string", "Which version of the data to serve."),
    "resourceVersionMatch": _query("resourceVersionMatch", "string", "How resourceVersion is matched."),
    "sendInitialEvents": _query("sendInitialEvents", "boolean", "Start a watch with the current state."),
    "timeoutSeconds": _query("timeoutSeconds", "integer", "Time limit of the list or watch call."),
    "watch": _query("watch", "boolean", "Watch for changes instead of listing."),
}
_LIST_PARAMS = (
    "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
    "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch",
)  # fmt: skip
_DELETE_COLLECTION_PARAMS = (
    "continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "labelSelector", "limit", "orphanDependents",
    "propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
)  # fmt: skip
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")


def _path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _content(media: tuple[str, ...], definition: str) -> Schema:
    return {m: {"schema": {"$ref": _COMPONENTS + definition}} for m in media}


@dataclass(frozen=True)
class _Target:
    """What one path's operations are about."""

    resource: Resource
    kind_name: str  # definition of the body
    list_name: str
    gvk: dict[str, str]
    tag: str
    op_suffix: str  # e.g. "CoreV1NamespacedPod"

    @property
    def media(self) -> tuple[str, ...]:
        return _CUSTOM_MEDIA if self.resource.is_custom else _BUILTIN_MEDIA


def _operation(
    target: _Target,
    verb: str,
    action: str,
    description: str,
    responses: dict[str, tuple[str, str]],
    params: tuple[str, ...] = (),
    body: tuple[tuple[str, ...], str] | None = None,
    media: tuple[str, ...] | None = None,
) -> Schema:
    media = media or target.media
    op: Schema = {
        "description": description,
        "operationId": verb + target.op_suffix,
        "tags": [target.tag],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": dict(target.gvk),
    }
    if params:
        op["parameters"] = [_PARAMS[p] for p in params]
    if body is not None:
        body_media, definition = body
        op["requestBody"] = {"content": _content(body_media, definition), "required": True}
    out: Schema = {}
    for code, (text, definition) in responses.items():
        out[code] = {"description": text, "content": _content(media, definition)}
    out["401"] = {"description": "Unauthorized"}
    op["responses"] = out
    return op


def _resource_paths(resource: Resource, kind_name: str, list_name: str) -> dict[str, Schema]:
    group_camel = _camel(resource.group)
    version_camel = resource.version[:1].upper() + resource.version[1:]
    tag = f"{group_camel[:1].lower()}{group_camel[1:]}_{resource.version}"
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = "Namespaced" if resource.namespaced else ""
    gvk = {"group": resource.group, "kind": resource.kind, "version": resource.version}
    target = _Target(
        resource, kind_name, list_name, gvk, tag, f"{group_camel}{version_camel}{scope}{resource.kind}"
    )
    base = (
        f"{prefix}/namespaces/{{namespace}}/{resource.plural}"
        if resource.namespaced
        else f"{prefix}/{resource.plural}"
    )
    scope_params = [_path_param("namespace", "object name and auth scope, such as for teams and projects")]
    common = [*(scope_params if resource.namespaced else []), _PARAMS["pretty"]]
    verbs = set(resource.verbs)
    patch_media = _CUSTOM_PATCHES if resource.is_custom else _BUILTIN_PATCHES
    kind = resource.kind
    paths: dict[str, Schema] = {}

    collection: Schema = {}
    if "list" in verbs:
        collection["get"] = _operation(
            target,
            "list",
            "list",
            f"list or watch objects of kind {kind}",
            {"200": ("OK", list_name)},
            _LIST_PARAMS,
            media=(*target.media, "application/json;stream=watch"),
        )
    if "create" in verbs:
        collection["post"] = _operation(
            target,
            "create",
            "post",
            f"create a {kind}",
            {"200": ("OK", kind_name), "201": ("Created", kind_name), "202": ("Accepted", kind_name)},
            _WRITE_PARAMS,
            body=(("*/*",), kind_name),
        )
    if "deletecollection" in verbs:
        collection["delete"] = _operation(
            target,
            "deleteCollection",
            "deletecollection",
            f"delete collection of {kind}",
            {"200": ("OK", f"{_META}Status")},
            _DELETE_COLLECTION_PARAMS,
            body=(("*/*",), f"{_META}DeleteOptions"),
        )
    if collection:
        paths[base] = {**collection, "parameters": common}

    item: Schema = {}
    if "get" in verbs:
        item["get"] = _operation(
            target, "read", "get", f"read the specified {kind}", {"200": ("OK", kind_name)}
        )
    if "update" in verbs:
        item["put"] = _operation(
            target,
            "replace",
            "put",
            f"replace the specified {kind}",
            {"200": ("OK", kind_name), "201": ("Created", kind_name)},
            _WRITE_PARAMS,
            body=(("*/*",), kind_name),
        )
    if "patch" in verbs:
        item["patch"] = _operation(
            target,
            "patch",
            "patch",
            f"partially update the specified {kind}",
            {"200": ("OK", kind_name), "201": ("Created", kind_name)},
            _PATCH_PARAMS,
            body=(patch_media, f"{_META}Patch"),
        )
    if "delete" in verbs:
        item["delete"] = _operation(
            target,
            "delete",
            "delete",
            f"delete a {kind}",
            {"200": ("OK", f"{_META}Status"), "202": ("Accepted", f"{_META}Status")},
            _DELETE_PARAMS,
            body=(("*/*",), f"{_META}DeleteOptions"),
        )
    item_params = [_path_param("name", f"name of the {kind}"), *common]
    if item:
        paths[f"{base}/{{name}}"] = {**item, "parameters": item_params}

    for sub in resource.subresources:
        if sub == "status":
            sub_target = _Target(resource, kind_name, list_name, gvk, tag, target.op_suffix + "Status")
            body_name, what = kind_name, f"status of the specified {kind}"
        elif sub == "scale":
            sub_target = _Target(resource, _SCALE, list_name, _SCALE_GVK, tag, target.op_suffix + "Scale")
            body_name, what = _SCALE, f"scale of the specified {kind}"
        else:
            continue  # connect-style subresources (log, exec, ...) carry no schema that clients read
        paths[f"{base}/{{name}}/{sub}"] = {
            "get": _operation(sub_target, "read", "get", f"read {what}", {"200": ("OK", body_name)}),
            "put": _operation(
                sub_target,
                "replace",
                "put",
                f"replace {what}",
                {"200": ("OK", body_name), "201": ("Created", body_name)},
                _WRITE_PARAMS,
                body=(("*/*",), body_name),
            ),
            "patch": _operation(
                sub_target,
                "patch",
                "patch",
                f"partially update {what}",
                {"200": ("OK", body_name), "201": ("Created", body_name)},
                _PATCH_PARAMS,
                body=(patch_media, f"{_META}Patch"),
            ),
            "parameters": [_path_param("name", f"name of the {sub_target.gvk['kind']}"), *common],
        }

    if resource.namespaced and "list" in verbs:
        everywhere = _Target(
            resource, kind_name, list_name, gvk, tag, f"{group_camel}{version_camel}{kind}ForAllNamespaces"
        )
        paths[f"{prefix}/{resource.plural}"] = {
            "get": _operation(
                everywhere,
                "list",
                "list",
                f"list or watch objects of kind {kind}",
                {"200": ("OK", list_name)},
                _LIST_PARAMS,
                media=(*target.media, "application/json;stream=watch"),
            ),
            "parameters": [_PARAMS["pretty"]],
        }
    return paths


# -- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    body: bytes
    hash: str  # SHA-512, upper-case hex


def _group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def build_document(resources: list[Resource], group: str, version: str) -> Schema:
    """The OpenAPI 3.0 document of one group-version."""
    paths: dict[str, Schema] = {}
    roots: list[str] = list(_COMMON)
    custom: dict[str, Schema] = {}
    for resource in resources:
        if resource.is_custom:
            definitions = _custom_definitions(resource)
            custom.update(definitions)
            kind_name, list_name = list(definitions)
        else:
            kind_name = resource.schema_name or ""
            list_name = kind_name + "List"
            roots += [kind_name, list_name]
        if "scale" in resource.subresources:
            roots.append(_SCALE)
        paths.update(_resource_paths(resource, kind_name, list_name))
    if custom:
        roots += [f"{_META}ObjectMeta", f"{_META}ListMeta"]
    group_camel = _camel(group)
    tag = f"{group_camel[:1].lower()}{group_camel[1:]}_{version}"
    paths[f"/{_group_version_path(group, version)}/"] = {
        "get": {
            "description": "get available resources",
            "operationId": f"get{group_camel}{version[:1].upper()}{version[1:]}APIResources",
            "tags": [tag],
            "responses": {
                "200": {"description": "OK", "content": _content(_BUILTIN_MEDIA, f"{_META}APIResourceList")},
                "401": {"description": "Unauthorized"},
            },
        }
    }
    components = {name: copy.deepcopy(_converted(name)) for name in reachable(roots)}
    components.update(custom)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(components.items()))},
    }


def _fingerprint(resources: list[Resource]) -> tuple[Any, ...]:
    parts = []
    for resource in resources:
        meta = ((resource.crd or {}).get("metadata")) or {}
        parts.append((resource, id(resource.crd), meta.get("resourceVersion"), meta.get("generation")))
    return tuple(parts)


class OpenAPIPublisher:
    """Serves ``/openapi/v3`` (:meth:`index`) and ``/openapi/v3/<gv>`` (:meth:`document`)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cache: dict[str, tuple[tuple[Any, ...], Published]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Drop every built document (the registry changed)."""
        with self._lock:
            self._cache.clear()

    def _group_versions(self) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for group, versions in self.registry.group_versions().items():
            for version in versions:
                out[_group_version_path(group, version)] = (group, version)
        return out

    def published(self, path: str) -> Published | None:
        """The document at ``api/v1``, ``apis/apps/v1``, ... (no leading slash), or None."""
        path = path.strip("/")
        found = self._group_versions().get(path)
        if found is None:
            return None
        group, version = found
        resources = self.registry.in_group_version(group, version)
        if not resources:
            return None
        fingerprint = _fingerprint(resources)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        body = orjson.dumps(build_document(resources, group, version))
        entry = Published(body, hashlib.sha512(body).hexdigest().upper())
        with self._lock:
            self._cache[path] = (fingerprint, entry)
        return entry

    def document(self, path: str) -> bytes | None:
        entry = self.published(path)
        return entry.body if entry else None

    def hash(self, path: str) -> str | None:
        """The document's hash, for ETag / ``?hash=`` checks."""
        entry = self.published(path)
        return entry.hash if entry else None

    def index(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for path in self._group_versions():
            entry = self.published(path)
            if entry is not None:
                paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={entry.hash}"}
        return {"paths": paths}
