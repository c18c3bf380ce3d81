"""Field paths and field sets, and their ``FieldsV1`` encoding.

A managedFields entry records *which fields* a manager owns as a set of paths
into the object.  A path is a tuple of elements, each one of:

* ``f:<name>``  — a field of a struct or a key of a map;
* ``k:{...}``   — the item of an associative list whose key fields have these
  values (a JSON object, keys sorted);
* ``v:<json>``  — the item of a set (a list of primitives) with this value;
* ``i:<index>`` — an item of a list addressed by position.

A :class:`FieldSet` is a trie: ``members`` are the elements that end a path at
this level (owned as such), ``children`` the elements that lead deeper.  An
element may be both — ``FieldsV1`` writes that as ``".": {}`` inside the
child's object, e.g. ``{"f:labels": {".": {}, "f:app": {}}}``.

Values inside ``k:`` and ``v:`` elements are kept as canonical JSON text, so
elements hash and compare exactly (``true`` never equals ``1``).  Sorting
follows upstream's order: field names, then keys, then values, then indices,
which is also the order ``FieldsV1`` objects are written in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import orjson


class PathElement(NamedTuple):
    """One step of a path.  ``kind`` is "f", "k", "v" or "i" (see module docstring)."""

    kind: str
    value: Any  # f: str; k: tuple[(name, json), ...]; v: json text; i: int


Path = tuple[PathElement, ...]

_KIND_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def canonical_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def field(name: str) -> PathElement:
    return PathElement("f", name)


def key(fields: Mapping[str, Any]) -> PathElement:
    return PathElement("k", tuple(sorted((name, canonical_json(v)) for name, v in fields.items())))


def value(item: Any) -> PathElement:
    return PathElement("v", canonical_json(item))


def index(position: int) -> PathElement:
    return PathElement("i", position)


# -- ordering -----------------------------------------------------------------


def _value_order(item: Any) -> tuple[Any, ...]:
    """Upstream's value order: numbers < strings < booleans < lists < maps < null."""
    if isinstance(item, bool):
        return (2, item)
    if isinstance(item, int | float):
        return (0, item)
    if isinstance(item, str):
        return (1, item)
    if isinstance(item, list):
        return (3, tuple(_value_order(x) for x in item))
    if isinstance(item, dict):
        return (4, tuple((k, _value_order(v)) for k, v in sorted(item.items())))
    return (5,)


def sort_key(element: PathElement) -> tuple[Any, ...]:
    kind, payload = element
    if kind == "k":
        return (1, tuple((name, _value_order(orjson.loads(text))) for name, text in payload))
    if kind == "v":
        return (2, _value_order(orjson.loads(payload)))
    return (_KIND_RANK[kind], payload)


# -- text forms ---------------------------------------------------------------


def serialize_element(element: PathElement) -> str:
    kind, payload = element
    if kind == "f":
        return f"f:{payload}"
    if kind == "k":
        body = ",".join(f"{json.dumps(name, ensure_ascii=False)}:{text}" for name, text in payload)
        return "k:{" + body + "}"
    if kind == "v":
        return f"v:{payload}"
    return f"i:{payload}"


def parse_element(text: str) -> PathElement:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in _KIND_RANK:
        raise ValueError(f"unknown path element {text!r}")
    if kind == "f":
        return field(rest)
    if kind == "i":
        try:
            return index(int(rest))
        except ValueError:
            raise ValueError(f"invalid index in path element {text!r}") from None
    try:
        decoded = orjson.loads(rest)
    except orjson.JSONDecodeError:
        raise ValueError(f"invalid JSON in path element {text!r}") from None
    if kind == "k":
        if not isinstance(decoded, dict):
            raise ValueError(f"key path element must hold an object: {text!r}")
        return key(decoded)
    return value(decoded)


def _go_value(text: str) -> str:
    """A value the way upstream prints it in paths: strings quoted, the rest as JSON."""
    decoded = orjson.loads(text)
    if isinstance(decoded, str):
        return json.dumps(decoded, ensure_ascii=False)
    return text


def element_string(element: PathElement) -> str:
    """Human form used in conflict messages: ``.spec``, ``[name="c"]``, ``[=v]``, ``[0]``."""
    kind, payload = element
    if kind == "f":
        return f".{payload}"
    if kind == "k":
        return "[" + ",".join(f"{name}={_go_value(text)}" for name, text in payload) + "]"
    if kind == "v":
        return f"[={_go_value(payload)}]"
    return f"[{payload}]"


def path_string(path: Sequence[PathElement]) -> str:
    return "".join(element_string(e) for e in path)


# -- sets ---------------------------------------------------------------------


class FieldSet:
    """A set of paths, stored as a trie.  Operations return new sets.

    Invariant: no child set is empty, so ``empty()`` only looks at one level.
    """

    __slots__ = ("children", "members")

    def __init__(
        self,
        members: Iterable[PathElement] = (),
        children: Mapping[PathElement, FieldSet] | None = None,
    ) -> None:
        self.members: set[PathElement] = set(members)
        self.children: dict[PathElement, FieldSet] = {
            pe: child for pe, child in (children or {}).items() if not child.empty()
        }

    @classmethod
    def of(cls, *paths: Sequence[PathElement]) -> FieldSet:
        out = cls()
        for p in paths:
            out.insert(p)
        return out

    def insert(self, path: Sequence[PathElement]) -> None:
        # The empty path is the whole object: ownership is never tracked there.
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def has(self, path: Sequence[PathElement]) -> bool:
        if not path:
            return False
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return node is not None and path[-1] in node.members

    def child(self, element: PathElement) -> FieldSet | None:
        return self.children.get(element)

    def empty(self) -> bool:
        return not self.members and not self.children

    def copy(self) -> FieldSet:
        return FieldSet(self.members, {pe: c.copy() for pe, c in self.children.items()})

    def union(self, other: FieldSet) -> FieldSet:
        children = {pe: c.copy() for pe, c in self.children.items()}
        for pe, c in other.children.items():
            children[pe] = children[pe].union(c) if pe in children else c.copy()
        return FieldSet(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        children = {
            pe: c.intersection(other.children[pe]) for pe, c in self.children.items() if pe in other.children
        }
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths of self not in other (exact paths: descendants of a removed member stay)."""
        children = {
            pe: c.difference(other.children[pe]) if pe in other.children else c.copy()
            for pe, c in self.children.items()
        }
        return FieldSet(self.members - other.members, children)

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, in upstream's order: this level's members, then each child's."""
        for pe in sorted(self.members, key=sort_key):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=sort_key):
            yield from self.children[pe].paths((*prefix, pe))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.members == other.members and self.children == other.children

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"


# -- FieldsV1 -----------------------------------------------------------------


def to_fields_v1(fields: FieldSet) -> dict[str, Any]:
    """The ``fieldsV1`` object of a set: ``{}`` leaves, ``"."`` for a member that also has children."""
    out: dict[str, Any] = {}
    for pe in sorted(fields.members | fields.children.keys(), key=sort_key):
        child = fields.children.get(pe)
        if child is None:
            out[serialize_element(pe)] = {}
            continue
        body: dict[str, Any] = {".": {}} if pe in fields.members else {}
        body.update(to_fields_v1(child))
        out[serialize_element(pe)] = body
    return out


def from_fields_v1(document: Any) -> FieldSet:
    """Parse a ``fieldsV1`` object; raises ValueError on anything malformed."""
    if not isinstance(document, dict):
        raise ValueError("fieldsV1 must be a JSON object")
    out = FieldSet()
    for text, body in document.items():
        if text == ".":
            continue  # handled by the parent, which sees it in ``body``
        if not isinstance(body, dict):
            raise ValueError(f"fieldsV1 entry {text!r} must be an object")
        pe = parse_element(text)
        if not body or "." in body:
            out.members.add(pe)
        child = from_fields_v1(body)
        if not child.empty():
            out.children[pe] = child
    return out
