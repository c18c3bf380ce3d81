"""``metadata.managedFields`` entries, decoded into field sets and back.

A manager is identified the way upstream does it: manager name, operation and
subresource, plus the apiVersion for ``Update`` entries only — an applier keeps
one entry whatever version it applies with, while an updater writing through
two versions gets two entries.  Encoding sorts entries like upstream:
operation, time, manager, apiVersion, subresource.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeling.api.fieldmanager import fieldpath
from kubeling.api.fieldmanager.fieldpath import FieldSet

APPLY = "Apply"
UPDATE = "Update"
FIELDS_V1 = "FieldsV1"

# Fields no manager ever owns (upstream's "strip meta" list).  Only these exact
# paths are dropped: labels under ``metadata`` stay tracked.
STRIPPED = FieldSet.of(
    (fieldpath.field("apiVersion"),),
    (fieldpath.field("kind"),),
    (fieldpath.field("metadata"),),
    *(
        (fieldpath.field("metadata"), fieldpath.field(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
)

Identity = tuple[str, str, str, str]


@dataclass
class Entry:
    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""

    @property
    def identity(self) -> Identity:
        return identity(self.manager, self.operation, self.api_version, self.subresource)

    def identifier(self) -> str:
        """Upstream's manager key (the entry as JSON without time and fields), used for ordering."""
        body: dict[str, str] = {"manager": self.manager, "operation": self.operation}
        if self.operation == UPDATE and self.api_version:
            body["apiVersion"] = self.api_version
        if self.subresource:
            body["subresource"] = self.subresource
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def describe(self) -> str:
        """How conflict messages name this manager: ``"kubectl" using apps/v1``."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            out["apiVersion"] = self.api_version
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = FIELDS_V1
        out["fieldsV1"] = fieldpath.to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def identity(manager: str, operation: str, api_version: str, subresource: str = "") -> Identity:
    return (manager, operation, api_version if operation == UPDATE else "", subresource)


def decode(raw: Any) -> dict[Identity, Entry]:
    """Entries by identity; raises ValueError for anything upstream would refuse."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ValueError("managedFields must be a list")
    out: dict[Identity, Entry] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("managedFields entries must be objects")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        if item.get("fieldsType", FIELDS_V1) != FIELDS_V1:
            raise ValueError(f"invalid fieldsType {item.get('fieldsType')!r}")
        entry = Entry(
            manager=str(item.get("manager") or ""),
            operation=operation,
            api_version=str(item.get("apiVersion") or ""),
            fields=fieldpath.from_fields_v1(item.get("fieldsV1") or {}),
            time=item.get("time"),
            subresource=str(item.get("subresource") or ""),
        )
        out[entry.identity] = entry  # a repeated identity: the later entry wins, as upstream
    return out


def encode(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    kept = [e for e in entries if not e.fields.empty()]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.to_dict() for e in kept]


def is_reset(raw: Any) -> bool:
    """``managedFields: [{}]`` is a client's explicit request to clear the field."""
    return isinstance(raw, list) and len(raw) == 1 and raw[0] == {}
