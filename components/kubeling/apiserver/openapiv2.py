"""The Swagger 2.0 document at ``/openapi/v2``, derived from the OpenAPI v3 documents.

kubectl validates single objects through the server (``fieldValidation``,
learnt from ``/openapi/v3``), but a ``kind: List`` file has no path there, so
it validates each item itself against the v2 document, fetched as gnostic
protobuf (:mod:`kubeling.apiserver.openapiv2_proto`); other clients ask for
JSON.  kubectl indexes the definitions by ``x-kubernetes-group-version-kind``
and takes the patch type of a kind from the ``consumes`` of its PATCH
operation, so both definitions and paths are published.

Nothing is built twice: the v2 document is a conversion of every v3
group-version document :class:`~kubeling.apiserver.openapi.OpenAPIPublisher`
serves (built-in kinds and established CRDs alike), merged into one.  It is
cached under the v3 documents' hashes, so whatever makes v3 change (a CRD
registered or removed, the hook in ``crds.py``) makes v2 rebuild on the next
request.  JSON and protobuf bodies are built lazily, each with its own ETag
(SHA-512 of the body, upper-case hex, quoted, as upstream).

Schema conversion follows what upstream publishes in v2:
``#/components/schemas/X`` → ``#/definitions/X``; a lone ``allOf: [$ref]``
(v3's way of giving a reference a description) becomes the bare ``$ref`` with
its siblings; IntOrString and Quantity (``oneOf`` of primitives) become
``type: string``; keywords v2 lacks (``oneOf``, ``anyOf``, ``not``,
``nullable``, ...) are dropped.  For CRD schemas the rules of upstream's
``ToStructuralOpenAPIV2`` apply, because kubectl's v2 parser trips on them
otherwise: a nullable schema loses its type, properties and items (and
stops being required by its parent), preserve-unknown-fields drops
properties and items, an array without items loses its type.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver.openapi import OpenAPIPublisher
from kubeling.apiserver.openapiv2_proto import encode_document

Schema = dict[str, Any]

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"

JSON = "application/json"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
# kubectl still asks with the older '@' spelling; both get the same bytes.
_PROTOBUF_NAMES = frozenset({PROTOBUF, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})

# Swagger 2.0 Schema Object keywords (besides $ref and x-*).
_V2_KEYWORDS = frozenset(
    {
        "format", "title", "description", "default", "multipleOf", "maximum", "exclusiveMaximum",
        "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
        "uniqueItems", "maxProperties", "minProperties", "required", "enum", "type", "readOnly",
        "example",
    }
)  # fmt: skip
_PRIMITIVE_TYPES = frozenset({"string", "integer", "number"})


# -- schemas ---------------------------------------------------------------------------------


def _ref(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(V3_REF):
        return V2_REF + value[len(V3_REF) :]
    return value


def _lone_reference(all_of: Any) -> str | None:
    if (
        isinstance(all_of, list)
        and len(all_of) == 1
        and isinstance(all_of[0], dict)
        and set(all_of[0]) == {"$ref"}
    ):
        return str(all_of[0]["$ref"])
    return None


def _is_primitive_choice(one_of: Any) -> bool:
    """IntOrString / Quantity: a oneOf whose branches are all plain primitives."""
    if not isinstance(one_of, list) or not one_of:
        return False
    return all(isinstance(b, dict) and set(b) == {"type"} and b["type"] in _PRIMITIVE_TYPES for b in one_of)


def convert_schema(node: Any) -> Any:
    """One OpenAPI v3 schema (and everything under it) as a Swagger 2.0 schema."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = _ref(value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict | bool):
            out[key] = convert_schema(
                value
            )  # items is always a schema here; a bool only fits additionalProperties
        elif key.startswith("x-") or key in _V2_KEYWORDS:
            out[key] = copy.deepcopy(value)
        # allOf/oneOf/anyOf/not/nullable/patternProperties/...: no v2 form (allOf handled below)
    reference = _lone_reference(node.get("allOf"))
    if reference is not None and "$ref" not in out:
        out = {"$ref": _ref(reference), **out}
    if "type" not in out and "$ref" not in out and _is_primitive_choice(node.get("oneOf")):
        out["type"] = "string"  # upstream's v2 spelling of int-or-string and Quantity
    _structural_v2(node, out)
    return out


def _structural_v2(source: Schema, out: Schema) -> None:
    """Upstream's ToStructuralOpenAPIV2 rules, which keep kubectl's v2 parser happy."""
    if source.get("nullable") is True:
        for key in ("type", "items", "properties"):
            out.pop(key, None)
    if source.get("x-kubernetes-preserve-unknown-fields") is True:
        out.pop("items", None)
        out.pop("properties", None)
    if out.get("type") == "array" and "items" not in out:
        out.pop("type")
    properties = source.get("properties")
    if isinstance(properties, dict) and isinstance(out.get("required"), list):
        nullable = {name for name, sub in properties.items() if isinstance(sub, dict) and sub.get("nullable")}
        out["required"] = [name for name in out["required"] if name not in nullable]
    extra = source.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("nullable") is True:
        out.pop("required", None)
    if out.get("required") == []:
        out.pop("required")


# -- paths -----------------------------------------------------------------------------------


def convert_parameter(parameter: Schema) -> Schema:
    """A v3 query/path parameter: its schema's type moves up beside the name."""
    out = {k: parameter[k] for k in ("name", "in", "description", "required") if k in parameter}
    inner = parameter.get("schema") or {}
    for key in ("type", "format", "uniqueItems"):
        if key in inner:
            out[key] = inner[key]
    return out


def _first_schema(content: Any) -> Schema | None:
    if isinstance(content, dict):
        for media in content.values():
            if isinstance(media, dict) and isinstance(media.get("schema"), dict):
                return convert_schema(media["schema"])
    return None


def convert_operation(operation: Schema) -> Schema:
    """A v3 operation as v2: requestBody → a ``body`` parameter + ``consumes``, content → ``produces``."""
    out: Schema = {"description": operation.get("description", "")}
    body = operation.get("requestBody") or {}
    content = body.get("content") or {}
    if content:
        out["consumes"] = list(content)
    produces: list[str] = []
    responses: Schema = {}
    for code, response in (operation.get("responses") or {}).items():
        converted: Schema = {"description": response.get("description", "")}
        found = _first_schema(response.get("content"))
        if found is not None:
            converted["schema"] = found
        produces += [m for m in response.get("content") or {} if m not in produces]
        responses[code] = converted
    if produces:
        out["produces"] = produces
    out["schemes"] = ["https"]
    for key in ("tags", "operationId"):
        if key in operation:
            out[key] = operation[key]
    parameters: list[Schema] = []
    if content:
        parameters.append(
            {"name": "body", "in": "body", "required": True, "schema": _first_schema(content) or {}}
        )
    parameters += [convert_parameter(p) for p in operation.get("parameters") or []]
    if parameters:
        out["parameters"] = parameters
    out["responses"] = responses
    out.update({k: copy.deepcopy(v) for k, v in operation.items() if k.startswith("x-")})
    return out


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def convert_path_item(item: Schema) -> Schema:
    out: Schema = {m: convert_operation(item[m]) for m in _METHODS if isinstance(item.get(m), dict)}
    if item.get("parameters"):
        out["parameters"] = [convert_parameter(p) for p in item["parameters"]]
    return out


# -- the document ----------------------------------------------------------------------------


def build_document(v3_documents: Iterable[Schema], *, version: str = "unversioned") -> Schema:
    """One Swagger 2.0 document from the v3 documents of every group-version."""
    paths: Schema = {}
    definitions: Schema = {}
    for document in v3_documents:
        for path, item in (document.get("paths") or {}).items():
            paths[path] = convert_path_item(item)
        for name, body in ((document.get("components") or {}).get("schemas") or {}).items():
            if name not in definitions:
                definitions[name] = convert_schema(body)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "type": "apiKey",
                "name": "authorization",
                "in": "header",
            }
        },
        "security": [{"BearerToken": []}],
    }


# -- serving ---------------------------------------------------------------------------------


def negotiate(accept: str | None) -> str:
    """JSON or protobuf, by the client's Accept header (JSON when it doesn't care)."""
    if not accept:
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for position, clause in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in clause.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, media.lower()))
    for negative_quality, _, media in sorted(ranked):
        if negative_quality >= 0:
            continue  # q=0: "not acceptable"
        if media in (JSON, "application/*", "*/*"):
            return JSON
        if media in _PROTOBUF_NAMES:
            return PROTOBUF
    raise errors.not_acceptable(f"only the following media types are accepted: {JSON}, {PROTOBUF}")


@dataclass(frozen=True)
class Served:
    body: bytes
    etag: str  # quoted, ready for the ETag header


def _served(body: bytes) -> Served:
    return Served(body, '"' + hashlib.sha512(body).hexdigest().upper() + '"')


class OpenAPIV2Publisher:
    """``/openapi/v2``: one document, kept until a v3 document it came from changes."""

    def __init__(self, v3: OpenAPIPublisher, *, version: str = "unversioned") -> None:
        self.v3 = v3
        self.version = version
        self._lock = threading.Lock()
        self._key: tuple[tuple[str, str], ...] | None = None
        self._document: Schema | None = None
        self._bodies: dict[str, Served] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._key, self._document, self._bodies = None, None, {}

    def _current_key(self) -> tuple[tuple[str, str], ...]:
        index = self.v3.index()["paths"]
        return tuple(sorted((path, entry["serverRelativeURL"]) for path, entry in index.items()))

    def document(self) -> Schema:
        """The Swagger 2.0 document as a dict (built again only if a v3 document changed)."""
        key = self._current_key()
        with self._lock:
            if self._key == key and self._document is not None:
                return self._document
        sources = (orjson.loads(self.v3.document(path) or b"{}") for path, _ in key)
        document = build_document(sources, version=self.version)
        with self._lock:
            self._key, self._document, self._bodies = key, document, {}
        return document

    def served(self, media_type: str) -> Served:
        """The body (and its ETag) in ``JSON`` or ``PROTOBUF``."""
        document = self.document()
        with self._lock:
            found = self._bodies.get(media_type)
        if found is not None and self._document is document:
            return found
        body = encode_document(document) if media_type == PROTOBUF else orjson.dumps(document)
        entry = _served(body)
        with self._lock:
            if self._document is document:
                self._bodies[media_type] = entry
        return entry


def _matches(if_none_match: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


async def serve(request: web.Request, publisher: OpenAPIV2Publisher) -> web.Response:
    """GET/HEAD ``/openapi/v2``: negotiated body, ETag, 304 on a matching If-None-Match."""
    media_type = negotiate(request.headers.get("Accept"))
    # The first build takes about a second: keep it off the event loop.
    served = await asyncio.to_thread(publisher.served, media_type)
    headers = {"ETag": served.etag, "Cache-Control": "no-cache, private", "Vary": "Accept"}
    if _matches(request.headers.get("If-None-Match", ""), served.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=served.body, headers={**headers, "Content-Type": media_type})
