"""Schema-aware walks over JSON objects: field sets, comparison, merge, removal.

The schema decides how each value is treated:

* a dict is a *map node* (each key its own field) unless its schema says
  ``x-kubernetes-map-type: atomic``;
* a list is a *list node* whose items are addressed by key (``list-type: map``
  with ``list-map-keys``), by value (``list-type: set``) or by position, or an
  atomic *leaf*.  With no ``x-kubernetes-list-type`` the strategic-merge
  markers decide, as upstream does for built-ins: patch strategy ``merge`` with
  a merge key is a keyed list, without one a set; anything else is atomic;
* everything else, and every value whose schema is unknown (``None``) apart
  from plain dicts, is a leaf that is owned and replaced whole.

Missing values are the :data:`MISSING` sentinel, distinct from JSON ``null``.
Walks never mutate their inputs; results share untouched subtrees with them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeling.api import schemas
from kubeling.api.fieldmanager import fieldpath
from kubeling.api.fieldmanager.fieldpath import FieldSet, Path, PathElement

Schema = dict[str, Any] | None


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# Upstream's schemas carry ``default`` on some list-map keys (ports are keyed by
# containerPort+protocol, protocol defaulting to TCP); the JSON schemas we load
# drop defaults, so the one that matters is restated here.
_KEY_DEFAULTS = {"protocol": "TCP"}


class InvalidValue(ValueError):
    """A value that cannot be tracked under its schema (e.g. duplicate list keys)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{fieldpath.path_string(path)}: {message}" if path else message)


class Kind(enum.Enum):
    LEAF = "leaf"
    MAP = "map"
    LIST = "list"


@dataclass(frozen=True)
class ListShape:
    mode: str  # "keyed" | "set" | "index"
    keys: tuple[str, ...] = ()


def list_shape(schema: Schema) -> ListShape | None:
    """How a list's items are identified, or None for an atomic list."""
    if not schema:
        return None
    declared, keys = schemas.list_type(schema)
    if declared == "atomic":
        return None
    if declared == "map":
        return ListShape("keyed", tuple(keys)) if keys else ListShape("index")
    if declared == "set":
        return ListShape("set")
    strategy, merge_key = schemas.patch_strategy(schema)
    if strategy and "merge" in strategy.split(","):
        return ListShape("keyed", (merge_key,)) if merge_key else ListShape("set")
    return None


# -- memoized schema steps ---------------------------------------------------------
#
# Every walk steps from a schema to its properties' and items' schemas, and
# resolving a ``$ref`` merges dicts on each step.  The steps of one schema
# never change (schemas are loaded once and never mutated; a CRD's new schema
# is a new dict), so they are computed once per schema object.  Entries hold
# the schema itself, so its id can't be reused while it is cached.

_CACHE_LIMIT = 20_000
_UNSET: Any = object()


class _Steps:
    __slots__ = ("additional", "items", "props", "resolved", "schema", "shape")

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.resolved = schemas.resolve(schema)
        self.props: dict[str, Schema] = {}
        self.additional: Schema = _UNSET
        self.items: Schema = _UNSET
        self.shape: ListShape | None = _UNSET


_STEPS: dict[int, _Steps] = {}


def _steps(schema: Schema) -> _Steps:
    steps = _STEPS.get(id(schema))
    if steps is None or steps.schema is not schema:
        if len(_STEPS) >= _CACHE_LIMIT:
            _STEPS.clear()
        steps = _STEPS[id(schema)] = _Steps(schema)
    return steps


def _prop(schema: Schema, key: str) -> Schema:
    """``schemas.property_schema(schema, key)``, memoized."""
    if schema is None:
        return None
    steps = _steps(schema)
    resolved = steps.resolved
    if not resolved:
        return None
    props = resolved.get("properties")
    if props and key in props:
        child = steps.props.get(key, _UNSET)
        if child is _UNSET:
            child = steps.props[key] = schemas.property_schema(schema, key)
        return child
    # Every other key (map entries, unknown fields) has the same schema.
    if steps.additional is _UNSET:
        steps.additional = schemas.property_schema(schema, key)
    return steps.additional


def _items_of(schema: Schema) -> Schema:
    """``schemas.items_schema(schema)``, memoized."""
    if schema is None:
        return None
    steps = _steps(schema)
    if steps.items is _UNSET:
        steps.items = schemas.items_schema(schema)
    return steps.items


def _shape_of(schema: Schema) -> ListShape | None:
    """``list_shape(schema)``, memoized."""
    if not schema:
        return None
    steps = _steps(schema)
    if steps.shape is _UNSET:
        steps.shape = list_shape(schema)
    return steps.shape


def _key_default(item_schema: Schema, name: str) -> Any:
    prop = _prop(item_schema, name)
    if prop and "default" in prop:
        return prop["default"]
    if name in _KEY_DEFAULTS and (prop is not None or item_schema is None):
        return _KEY_DEFAULTS[name]
    return MISSING


def item_element(
    shape: ListShape, item: Any, position: int, item_schema: Schema, *, strict: bool = False, path: Path = ()
) -> PathElement | None:
    """The path element of one list item, or None if the item does not fit the shape."""
    if shape.mode == "index":
        return fieldpath.index(position)
    if shape.mode == "set":
        return None if isinstance(item, dict | list) else fieldpath.value(item)
    if not isinstance(item, dict):
        return None
    fields: dict[str, Any] = {}
    for name in shape.keys:
        if name in item:
            fields[name] = item[name]
            continue
        default = _key_default(item_schema, name)
        if default is not MISSING:
            fields[name] = default
        elif strict:
            raise InvalidValue(
                path,
                f"element {position}: associative list with keys has an element that omits key field "
                f'"{name}" (and doesn\'t have default value)',
            )
    return fieldpath.key(fields)


def kind_of(schema: Schema, value: Any) -> tuple[Kind, ListShape | None]:
    if isinstance(value, dict):
        if schema and schema.get("x-kubernetes-map-type") == "atomic":
            return Kind.LEAF, None
        return Kind.MAP, None
    if isinstance(value, list):
        shape = _shape_of(schema)
        if shape is None:
            return Kind.LEAF, None
        items = _items_of(schema)
        if any(item_element(shape, item, i, items) is None for i, item in enumerate(value)):
            return Kind.LEAF, None  # items that cannot be keyed: treat the list as a whole
        return Kind.LIST, shape
    return Kind.LEAF, None


def _child_schema(schema: Schema, element: PathElement) -> Schema:
    if element.kind == "f":
        return _prop(schema, element.value)
    return _items_of(schema)


def _items(
    value: list[Any], shape: ListShape, schema: Schema, *, strict: bool = False, path: Path = ()
) -> list[tuple[PathElement, Any]]:
    items_schema = _items_of(schema)
    out: list[tuple[PathElement, Any]] = []
    seen: set[PathElement] = set()
    for i, item in enumerate(value):
        pe = item_element(shape, item, i, items_schema, strict=strict, path=path)
        assert pe is not None  # kind_of already checked every item fits
        if strict and pe in seen:
            raise InvalidValue(path, f"duplicate entries for key {fieldpath.element_string(pe)}")
        seen.add(pe)
        out.append((pe, item))
    return out


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality where ``true`` is not ``1`` (Python's ``==`` says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _is_empty(value: Any) -> bool:
    return value is MISSING or value is None or (isinstance(value, dict | list) and not value)


# -- field sets ---------------------------------------------------------------


def to_field_set(value: Any, schema: Schema, *, strict: bool = False) -> FieldSet:
    """Every field ``value`` sets.  ``strict`` rejects duplicate or key-less list items."""
    out = FieldSet()
    _to_set(value, schemas.resolve(schema), (), out, strict)
    return out


def _to_set(value: Any, schema: Schema, path: Path, out: FieldSet, strict: bool) -> None:
    kind, shape = kind_of(schema, value)
    if kind is Kind.LEAF:
        out.insert(path)
    elif kind is Kind.MAP:
        declared = (schema or {}).get("properties") or {}
        for name, child_value in value.items():
            child = (*path, fieldpath.field(name))
            _to_set(child_value, _prop(schema, name), child, out, strict)
            # Struct fields are owned through their leaves; map entries, nulls and
            # empty objects are owned as such.
            if name not in declared or child_value is None or child_value == {}:
                out.insert(child)
    else:
        assert shape is not None
        items_schema = _items_of(schema)
        for pe, item in _items(value, shape, schema, strict=strict, path=path):
            child = (*path, pe)
            _to_set(item, items_schema, child, out, strict)
            out.insert(child)


def ensure_named_fields(fields: FieldSet, schema: Schema) -> FieldSet:
    """Also count as members the struct fields that only appear as parents of other paths.

    Owning ``.spec.strategy.rollingUpdate.maxSurge`` then also means owning
    ``.spec.strategy.rollingUpdate`` — but not a map entry's or list item's parent.
    """
    schema = schemas.resolve(schema)
    declared = (schema or {}).get("properties") or {}
    members = set(fields.members)
    children: dict[PathElement, FieldSet] = {}
    for pe, child in fields.children.items():
        if pe.kind == "f" and pe.value in declared:
            members.add(pe)
        children[pe] = ensure_named_fields(child, _child_schema(schema, pe))
    return FieldSet(members, children)


# -- the fields of a new object ---------------------------------------------------


def added_fields(value: Any, schema: Schema) -> FieldSet | None:
    """``compare({}, value, schema).added`` for a non-empty object, in one pass.

    A create compares the new object against nothing: every node of it is
    added, containers included.  This builds that trie directly, without the
    path tuples and per-path inserts of the general walk.  None when the
    object is not a non-empty map node (the caller takes the general path).
    """
    schema = schemas.resolve(schema)
    kind, _ = kind_of(schema, value)
    if kind is not Kind.MAP or not value:
        return None
    return _added_map(value, schema)


def _added_map(value: dict[str, Any], schema: Schema) -> FieldSet:
    out = FieldSet()
    members = out.members
    for name, child in value.items():
        pe = fieldpath.field(name)
        members.add(pe)
        _add_child(out, pe, child, _prop(schema, name))
    return out


def _added_list(items: list[tuple[PathElement, Any]], items_schema: Schema) -> FieldSet:
    out = FieldSet()
    members = out.members
    for pe, item in items:
        # A repeated key: the general walk keeps the first item (dict(reversed(...))).
        if pe not in members:
            members.add(pe)
            _add_child(out, pe, item, items_schema)
    return out


def _add_child(out: FieldSet, pe: PathElement, child: Any, schema: Schema) -> None:
    """The subtree of a container child (kind_of's decision, list items keyed once)."""
    # Leaves and empty containers are members only, as _compare treats them.
    if isinstance(child, dict):
        if child and not (schema and schema.get("x-kubernetes-map-type") == "atomic"):
            out.children[pe] = _added_map(child, schema)
    elif isinstance(child, list) and child:
        shape = _shape_of(schema)
        if shape is None:
            return
        items_schema = _items_of(schema)
        items: list[tuple[PathElement, Any]] = []
        for position, item in enumerate(child):
            element = item_element(shape, item, position, items_schema)
            if element is None:
                return  # an item that cannot be keyed: the list is a leaf
            items.append((element, item))
        out.children[pe] = _added_list(items, items_schema)


# -- comparison ---------------------------------------------------------------


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def changed(self) -> FieldSet:
        return self.added.union(self.modified)

    def empty(self) -> bool:
        return self.added.empty() and self.modified.empty() and self.removed.empty()


def compare(lhs: Any, rhs: Any, schema: Schema) -> Comparison:
    """Paths added, modified (leaves only) and removed going from ``lhs`` to ``rhs``.

    Added and removed contain every path of a subtree that appeared or
    disappeared, containers included.
    """
    out = Comparison()
    _compare(lhs, rhs, schemas.resolve(schema), (), out)
    return out


def _compare(lhs: Any, rhs: Any, schema: Schema, path: Path, out: Comparison) -> None:
    if lhs is MISSING and rhs is MISSING:
        return
    lkind, lshape = kind_of(schema, lhs) if lhs is not MISSING else (None, None)
    rkind, rshape = kind_of(schema, rhs) if rhs is not MISSING else (None, None)
    if lkind is not None and rkind is not None and (lkind, lshape) != (rkind, rshape):
        # The value changed shape: the old one went away, the new one came.
        _compare(lhs, MISSING, schema, path, out)
        _compare(MISSING, rhs, schema, path, out)
        return
    kind = lkind or rkind
    shape = lshape or rshape
    if kind is not Kind.LEAF and _is_empty(lhs) and _is_empty(rhs):
        kind = Kind.LEAF  # empty on both sides: keeps the {} / null distinction
    if kind is Kind.LEAF:
        if lhs is MISSING:
            out.added.insert(path)
        elif rhs is MISSING:
            out.removed.insert(path)
        elif not json_equal(lhs, rhs):
            out.modified.insert(path)
        return
    if kind is Kind.MAP:
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        for name in [*left, *(k for k in right if k not in left)]:
            _compare(
                left.get(name, MISSING),
                right.get(name, MISSING),
                _prop(schema, name),
                (*path, fieldpath.field(name)),
                out,
            )
    else:
        assert shape is not None
        left_items = dict(reversed(_items(lhs, shape, schema))) if isinstance(lhs, list) else {}
        right_items = dict(reversed(_items(rhs, shape, schema))) if isinstance(rhs, list) else {}
        items_schema = _items_of(schema)
        for pe in [*left_items, *(k for k in right_items if k not in left_items)]:
            _compare(
                left_items.get(pe, MISSING), right_items.get(pe, MISSING), items_schema, (*path, pe), out
            )
    if lhs is MISSING:
        out.added.insert(path)
    elif rhs is MISSING:
        out.removed.insert(path)


# -- merge --------------------------------------------------------------------


def merge(lhs: Any, rhs: Any, schema: Schema) -> Any:
    """``rhs`` (an apply configuration) laid over ``lhs`` (the live object).

    Map nodes merge key by key, list nodes item by item (the configuration's
    item order wins, live-only items keep their place), leaves are replaced.
    A key merged to ``null`` is dropped, as a typed object would drop it.
    """
    return _merge(lhs, rhs, schemas.resolve(schema))


def _merge(lhs: Any, rhs: Any, schema: Schema) -> Any:
    if rhs is MISSING:
        return lhs
    if lhs is MISSING:
        return rhs
    lkind, lshape = kind_of(schema, lhs)
    rkind, rshape = kind_of(schema, rhs)
    if (lkind, lshape) != (rkind, rshape) or rkind is Kind.LEAF or (_is_empty(lhs) and _is_empty(rhs)):
        return rhs
    if rkind is Kind.MAP:
        out: dict[str, Any] = {}
        for name in [*lhs, *(k for k in rhs if k not in lhs)]:
            child_schema = _prop(schema, name)
            merged = _merge(lhs.get(name, MISSING), rhs.get(name, MISSING), child_schema)
            if merged is not None:
                out[name] = merged
        return out
    assert rshape is not None
    return _merge_lists(lhs, rhs, rshape, schema)


def _merge_lists(lhs: list[Any], rhs: list[Any], shape: ListShape, schema: Schema) -> list[Any]:
    items_schema = _items_of(schema)
    left = _items(lhs, shape, schema)
    right = _items(rhs, shape, schema)
    left_by_pe: dict[PathElement, Any] = dict(reversed(left))
    right_pes = {pe for pe, _ in right}
    out: list[Any] = []
    emitted: set[PathElement] = set()
    li = ri = 0
    # Live-only items are copied where they stand; whenever the live side reaches
    # an item the configuration also has, the configuration's next item is emitted,
    # so configured items follow the configuration's order.
    while li < len(left) or ri < len(right):
        if li < len(left):
            pe, item = left[li]
            if pe not in right_pes:
                out.append(item)
                li += 1
                continue
            if pe in emitted:
                li += 1
                continue
        if ri < len(right):
            pe, item = right[ri]
            ri += 1
            if pe in emitted:
                continue
            emitted.add(pe)
            out.append(_merge(left_by_pe.get(pe, MISSING), item, items_schema))
        else:
            li += 1
    return out


# -- removal ------------------------------------------------------------------


def remove_items(value: Any, fields: FieldSet, schema: Schema) -> Any:
    """``value`` without the member paths of ``fields`` (and their subtrees).

    Maps and lists emptied by the removal disappear too, the way upstream
    leaves them null and a typed object drops them.
    """
    out = _remove(value, fields, schemas.resolve(schema))
    if out is MISSING:
        return {} if isinstance(value, dict) else []
    return out


def _remove(value: Any, fields: FieldSet, schema: Schema) -> Any:
    kind, shape = kind_of(schema, value)
    if kind is Kind.LEAF:
        return value
    entries: list[tuple[PathElement, Any, Callable[[], Schema]]]
    if kind is Kind.MAP:
        entries = [
            (fieldpath.field(name), v, lambda name=name: _prop(schema, name)) for name, v in value.items()
        ]
    else:
        assert shape is not None
        items_schema = _items_of(schema)
        entries = [(pe, v, lambda: items_schema) for pe, v in _items(value, shape, schema)]
    kept: list[tuple[PathElement, Any]] = []
    for pe, child_value, child_schema in entries:
        if pe in fields.members:
            continue
        child_fields = fields.children.get(pe)
        if child_fields is not None:
            child_value = _remove(child_value, child_fields, child_schema())
            if child_value is MISSING:
                continue
        kept.append((pe, child_value))
    if not kept:
        return MISSING
    if kind is Kind.MAP:
        return {pe.value: v for pe, v in kept}
    return [v for _, v in kept]
