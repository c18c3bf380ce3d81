"""Content negotiation: what shape and encoding the client wants back.

kubectl asks for Tables (``application/json;as=Table;v=v1;g=meta.k8s.io``),
controllers sometimes for metadata only (``as=PartialObjectMetadata``), and
some clients offer protobuf first.  We serve JSON and YAML; an Accept header
naming only encodings we lack gets 406.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from kubeling.api import errors


class Shape(enum.Enum):
    OBJECT = "Object"
    TABLE = "Table"
    METADATA = "PartialObjectMetadata"
    METADATA_LIST = "PartialObjectMetadataList"
    DISCOVERY_V2 = "APIGroupDiscoveryList"


@dataclass(frozen=True)
class Target:
    media_type: str  # application/json or application/yaml
    shape: Shape = Shape.OBJECT


_JSON = "application/json"
_YAML = "application/yaml"


def _parse_media_range(text: str) -> tuple[str, dict[str, str]]:
    pieces = [p.strip() for p in text.split(";")]
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        if "=" in piece:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
    return pieces[0].lower(), params


def negotiate(accept: str | None) -> Target:
    """Pick the first acceptable media range from an Accept header."""
    if not accept:
        return Target(_JSON)
    for option in accept.split(","):
        media, params = _parse_media_range(option)
        if media in ("application/json", "*/*", "application/*", "application/json-seq"):
            encoding = _JSON
        elif media in ("application/yaml", "text/yaml"):
            encoding = _YAML
        else:
            continue
        shape_name = params.get("as")
        if not shape_name:
            return Target(encoding)
        group = params.get("g", "")
        if shape_name == "APIGroupDiscoveryList" and group == "apidiscovery.k8s.io":
            if params.get("v") == "v2":
                return Target(encoding, Shape.DISCOVERY_V2)
            continue
        if group != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        try:
            return Target(encoding, Shape(shape_name))
        except ValueError:
            continue
    raise errors.not_acceptable(
        "only the following media types are accepted: application/json, application/yaml"
    )


def encode(body: Any, media_type: str) -> bytes:
    if media_type == _YAML:
        return yaml.safe_dump(body, sort_keys=False).encode()
    return orjson.dumps(body)


def content_type(media_type: str) -> str:
    return media_type


def decode_body(raw: bytes, content_type_header: str | None) -> Any:
    """Decode a request body sent as JSON or YAML; 400 on malformed input."""
    media = (content_type_header or _JSON).split(";")[0].strip().lower()
    if not raw.strip():
        raise errors.bad_request("the request body is empty")
    if media.endswith("yaml"):
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None
        return _json_safe(value)
    if media == "application/vnd.kubernetes.protobuf":
        from kubeling.api import protobuf

        return protobuf.decode(raw)
    if media.endswith("json") or media in ("*/*", ""):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise errors.bad_request(f"error decoding JSON: {exc}") from None
    raise errors.unsupported_media_type(media)


def _json_safe(value: Any) -> Any:
    """YAML can yield dates, sets and non-string keys; JSON objects cannot hold them."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
