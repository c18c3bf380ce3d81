"""Revisions of a workload's pod template: the one template hash, and ControllerRevision helpers.

Deployments label each ReplicaSet and its pods with ``pod-template-hash``;
DaemonSets and StatefulSets record each template they ran as a
ControllerRevision named ``<owner>-<hash>`` and label pods with
``controller-revision-hash``.  Both hashes come from :func:`stable_hash`:
FNV-1a (32 bit) over the canonical JSON of the object plus the owner's
``collisionCount`` (so a collision is escaped by counting up), printed as
upstream prints it — the decimal sum through ``rand.SafeEncodeString``'s
vowel-free alphabet.  Upstream hashes Go structs, so the strings differ
from a real cluster's; they are stable here across restarts, which is what
matters.

A ControllerRevision's ``data`` is the patch that turns any owner into one
with the recorded template (``{"spec": {"template": {..., "$patch":
"replace"}}}``), as upstream stores it; ``revision`` numbers only grow.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubeling.controllers.ownership import controller_ref, new_controller_ref

Obj = dict[str, Any]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
DEFAULT_REVISION_HISTORY_LIMIT = 10

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's rand alphabet: no vowels, no confusable 0/1/3
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Each character mapped into the vowel-free alphabet (upstream's ``rand.SafeEncodeString``)."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in text)


def canonical(obj: Any) -> Any:
    """``obj`` with empty maps, lists and nulls dropped: JSON that differs only there is the same object."""
    if isinstance(obj, dict):
        out = {k: canonical(v) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


def stable_hash(obj: Any, collision_count: int | None = None) -> str:
    data = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little", signed=False)
    return safe_encode(str(fnv32a(data)))


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a Deployment's template."""
    return stable_hash(template, collision_count)


def without_hash_label(template: Obj, label: str = POD_TEMPLATE_HASH_LABEL) -> Obj:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(label, None)
    return out


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """Two pod templates are the same but for ``pod-template-hash`` (upstream's EqualIgnoreHash)."""
    return canonical(without_hash_label(a)) == canonical(without_hash_label(b))


# -- ControllerRevisions ---------------------------------------------------------------


def template_patch(owner: Obj) -> Obj:
    """What a revision records: the patch that puts the owner's template back."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_name(prefix: str, hash_: str) -> str:
    # Names are at most 253 characters: keep room for "-" and the hash.
    return f"{prefix[:223]}-{hash_}"


def revision_of(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def new_revision(
    owner: Obj,
    *,
    api_version: str,
    kind: str,
    revision: int,
    collision_count: int | None,
    hash_: str | None = None,
) -> Obj:
    """A ControllerRevision body recording ``owner``'s current template as number ``revision``.

    The hash defaults to the hash of the recorded patch (StatefulSets); DaemonSets pass
    their template hash, as upstream names their revisions after it.
    """
    data = template_patch(owner)
    hash_ = hash_ or stable_hash(data, collision_count)
    template_labels = (((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    labels = dict(template_labels or {})
    labels[CONTROLLER_REVISION_HASH_LABEL] = hash_
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(owner["metadata"]["name"], hash_),
            "namespace": owner["metadata"].get("namespace"),
            "labels": labels,
            "ownerReferences": [new_controller_ref(owner, api_version=api_version, kind=kind)],
        },
        "data": data,
        "revision": revision,
    }


def revision_hash(revision: Obj) -> str:
    return ((revision.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL, "")


def equal_revision(a: Obj, b: Obj) -> bool:
    """Same hash label and the same recorded template."""
    return (
        bool(revision_hash(a))
        and revision_hash(a) == revision_hash(b)
        and (canonical(a.get("data")) == canonical(b.get("data")))
    )


def find_equal_revisions(revisions: list[Obj], wanted: Obj) -> list[Obj]:
    return [r for r in revisions if equal_revision(r, wanted)]


def sort_revisions(revisions: list[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name (upstream's byRevision)."""
    return sorted(
        revisions,
        key=lambda r: (revision_of(r), r["metadata"].get("creationTimestamp") or "", r["metadata"]["name"]),
    )


def next_revision(revisions: list[Obj]) -> int:
    return max((revision_of(r) for r in revisions), default=0) + 1


def owned_revisions(revisions: list[Obj], owner: Obj) -> list[Obj]:
    uid = owner["metadata"].get("uid")
    return [r for r in revisions if (ref := controller_ref(r)) is not None and ref.get("uid") == uid]


def revisions_to_prune(revisions: list[Obj], live_names: set[str], limit: int | None) -> list[Obj]:
    """The oldest revisions beyond ``limit`` that no live pod or status still names."""
    keep = DEFAULT_REVISION_HISTORY_LIMIT if limit is None else max(int(limit), 0)
    history = [r for r in sort_revisions(revisions) if r["metadata"]["name"] not in live_names]
    surplus = len(history) - keep
    return history[:surplus] if surplus > 0 else []


def apply_revision(owner: Obj, revision: Obj) -> Obj:
    """``owner`` as it was at ``revision``: its template put back (the patch replaces it whole)."""
    out = copy.deepcopy(owner)
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    out.setdefault("spec", {})["template"] = template
    return out
