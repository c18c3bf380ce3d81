"""The three classic patch types: JSON patch, JSON merge patch, strategic merge patch.

All three are pure functions over JSON-shaped values: they deep-copy their
inputs and return a new object, so a caller may retry a patch against a
fresher object (the apiserver does, on a resourceVersion race).

* :func:`json_patch` — RFC 6902 with the behaviour of the Go library the
  upstream apiserver uses: negative array indices count from the end, a
  malformed document is 400 BadRequest, an operation that cannot be applied
  (missing path, failed ``test``) is 422 Invalid with upstream's generic
  message, more than 10000 operations is 413.
* :func:`merge_patch` — RFC 7386: objects merge recursively, ``null``
  deletes, everything else replaces.
* :func:`strategic_merge_patch` — Kubernetes' own format.  Where a field's
  schema says ``x-kubernetes-patch-strategy: merge``, lists merge by
  ``x-kubernetes-patch-merge-key`` (lists of scalars are unioned); other
  lists are replaced.  Directives: ``$patch: replace|delete|merge`` in maps
  and list elements, ``$deleteFromPrimitiveList/<field>``,
  ``$setElementOrder/<field>`` and ``$retainKeys``.  Ordering follows
  upstream: ``$setElementOrder`` first, then the patch's order, then the live
  object's order.  Custom resources have no patch metadata: upstream refuses
  strategic merge patch for them (see :func:`supports_strategic_merge`), and
  with ``schema=None`` this function degrades to merge semantics.

Deliberate deviation: upstream copies a value that is new to the object
verbatim, directives included (and drops a new map carrying ``$patch``); here
directives are interpreted there too, so no ``$...`` key ever reaches storage.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.api import errors, schemas
from kubeling.api.resources import Resource

Schema = dict[str, Any]

MAX_JSON_PATCH_OPERATIONS = 10000

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ELEMENT_ORDER = "$setElementOrder/"

# Upstream reports every JSON patch application failure with this one message.
_REJECTED = "the server rejected our request due to an error in our request"


def supports_strategic_merge(resource: Resource) -> bool:
    """Built-in kinds take strategic merge patch; custom resources only merge patch (415 otherwise)."""
    return not resource.is_custom


# -- helpers -----------------------------------------------------------------------


def _same(left: Any, right: Any) -> bool:
    """JSON equality: 1 == 1.0, but True is not 1 (Go compares decoded values by type)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right


# -- JSON patch (RFC 6902) -----------------------------------------------------------


class _PatchFailure(Exception):
    """An operation that does not apply; reported as 422."""


def _unprocessable(detail: str) -> errors.StatusError:
    error = errors.StatusError(422, "Invalid", _REJECTED)
    error.__cause__ = _PatchFailure(detail)
    return error


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise _PatchFailure(f"path must be a string, not {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchFailure(f'JSON pointer must be empty or start with a "/": {path!r}')
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _array_index(token: str, length: int, *, inserting: bool) -> int:
    if inserting and token == "-":
        return length
    try:
        index = int(token)
    except ValueError:
        raise _PatchFailure(f"invalid array index {token!r}") from None
    if index < 0:
        index += length  # negative indices count from the end
        if index < 0:
            raise _PatchFailure(f"array index {token} out of bounds")
    limit = length if inserting else length - 1
    if index > limit:
        raise _PatchFailure(f"array index {token} out of bounds")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    """The container holding the pointer's last token."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _PatchFailure(f"missing path: /{'/'.join(tokens)}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), inserting=False)]
        else:
            raise _PatchFailure(f"missing path: /{'/'.join(tokens)}")
    if not isinstance(node, dict | list):
        raise _PatchFailure(f"missing path: /{'/'.join(tokens)}")
    return node


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailure(f"missing path: /{'/'.join(tokens)}")
        return parent[last]
    return parent[_array_index(last, len(parent), inserting=False)]


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_array_index(last, len(parent), inserting=True), value)
    return doc


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    """Returns (document, removed value)."""
    if not tokens:
        raise _PatchFailure("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailure(f"missing path: /{'/'.join(tokens)}")
        return doc, parent.pop(last)
    return doc, parent.pop(_array_index(last, len(parent), inserting=False))


def _replace(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailure(f"replace operation does not apply: missing key /{'/'.join(tokens)}")
        parent[last] = value
    else:
        parent[_array_index(last, len(parent), inserting=False)] = value
    return doc


def _value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise _PatchFailure(f"{operation.get('op')} operation has no value")
    return copy.deepcopy(operation["value"])


def _apply_operation(doc: Any, operation: dict[str, Any]) -> Any:
    op = operation.get("op")
    tokens = _pointer(operation.get("path"))
    if op == "add":
        return _add(doc, tokens, _value(operation))
    if op == "remove":
        return _remove(doc, tokens)[0]
    if op == "replace":
        return _replace(doc, tokens, _value(operation))
    if op in ("move", "copy"):
        source = _pointer(operation.get("from"))
        if op == "move":
            if tokens[: len(source)] == source and len(tokens) > len(source):
                raise _PatchFailure("cannot move a value into one of its own children")
            doc, value = _remove(doc, source)
        else:
            value = copy.deepcopy(_get(doc, source))
        return _add(doc, tokens, value)
    if op == "test":
        expected = operation.get("value")
        try:
            actual = _get(doc, tokens)
        except _PatchFailure:
            if expected is None:  # a missing value tests equal to null
                return doc
            raise
        if not _same(actual, expected):
            raise _PatchFailure(f"testing value {operation.get('path')} failed")
        return doc
    raise _PatchFailure(f"unexpected kind: {op!r}")


def json_patch(obj: Any, operations: list[Any]) -> Any:
    """Apply an RFC 6902 patch to a copy of ``obj``."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise errors.bad_request("json: cannot unmarshal the patch into a list of operations")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.too_large(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(operations)}"
        )
    doc = copy.deepcopy(obj)
    for operation in operations:
        try:
            doc = _apply_operation(doc, operation)
        except _PatchFailure as exc:
            raise _unprocessable(str(exc)) from exc
    return doc


# -- JSON merge patch (RFC 7386) -------------------------------------------------------


def merge_patch(obj: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch to a copy of ``obj``."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(obj) if isinstance(obj, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------


class _BadPatch(Exception):
    """A malformed strategic merge patch; reported as 400 unless flagged 422."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def _strategies(field_schema: Schema | None) -> tuple[set[str], str | None]:
    strategy, merge_key = schemas.patch_strategy(field_schema)
    names = {s.strip() for s in strategy.split(",")} if strategy else set()
    return names, merge_key


def _field(schema: Schema | None, key: str) -> Schema | None:
    return schemas.property_schema(schema, key) if schema else None


def _items(field_schema: Schema | None) -> Schema | None:
    return schemas.items_schema(field_schema) if field_schema else None


def _fresh(value: Any) -> tuple[Any, bool]:
    """A patch value new to the object, with its directives interpreted.

    Returns (value, keep); keep is False for a ``$patch: delete`` map.
    """
    if isinstance(value, dict):
        directive = value.get(_DIRECTIVE)
        if directive == "delete":
            return None, False
        out: dict[str, Any] = {}
        for key, item in value.items():
            if _is_directive(key):
                continue
            if item is None:
                continue  # a null that deletes nothing is dropped
            cleaned, keep = _fresh(item)
            if keep:
                out[key] = cleaned
        return out, True
    if isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict) and item.get(_DIRECTIVE) in ("delete", "replace"):
                continue  # list-level directives have nothing to act on in a new list
            cleaned, keep = _fresh(item)
            if keep:
                items.append(cleaned)
        return items, True
    return value, True


def _is_directive(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_DELETE_FROM_PRIMITIVE, _SET_ELEMENT_ORDER))


def _merge_key_value(item: Any, merge_key: str) -> Any:
    if not isinstance(item, dict):
        raise _BadPatch(f"expected a map in the list, got {item!r}")
    if merge_key not in item:
        raise _BadPatch(f"map: {item} does not contain declared merge key: {merge_key}")
    return item[merge_key]


def _position(items: list[Any], wanted: Any, merge_key: str | None) -> int:
    key = _merge_key_value(wanted, merge_key) if merge_key else wanted
    for i, item in enumerate(items):
        candidate = item.get(merge_key) if merge_key and isinstance(item, dict) else item
        if _same(candidate, key):
            return i
    return -1


def _sorted_by(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Stable sort by position in ``order``; items absent from it keep their place at the end."""
    ranked = [(_position(order, item, merge_key), n, item) for n, item in enumerate(items)]
    ranked.sort(key=lambda r: (r[0] < 0, r[0], r[1]))
    return [item for _, _, item in ranked]


def _interleave(
    server_only: list[Any], patched: list[Any], live: list[Any], merge_key: str | None
) -> list[Any]:
    """Insert server-only items among patch items, keeping both relative orders.

    A server-only item goes first only when the live object shows it before
    the next patch item; otherwise the patch item wins.
    """
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patched):
        if i >= len(server_only):
            out.append(patched[j])
            j += 1
        elif j >= len(patched):
            out.append(server_only[i])
            i += 1
        else:
            li = _position(live, server_only[i], merge_key)
            ri = _position(live, patched[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patched[j])
                j += 1
    return out


def _order(merged: list[Any], patch_order: list[Any], live: list[Any], merge_key: str | None) -> list[Any]:
    in_patch = [item for item in merged if _position(patch_order, item, merge_key) >= 0]
    server_only = [item for item in merged if _position(patch_order, item, merge_key) < 0]
    return _interleave(
        _sorted_by(server_only, live, merge_key),
        _sorted_by(in_patch, patch_order, merge_key),
        live,
        merge_key,
    )


def _check_element_types(*lists: list[Any]) -> str | None:
    """'map', 'scalar' or None (no elements); lists of lists are refused like upstream."""
    kind = None
    for items in lists:
        for item in items:
            if isinstance(item, list):
                raise _BadPatch("lists of lists are not supported", code=422)
            this = "map" if isinstance(item, dict) else "scalar"
            if kind is not None and kind != this:
                raise _BadPatch("list element types are not identical")
            kind = this
    return kind


def _merge_list(
    original: list[Any],
    patch: list[Any],
    item_schema: Schema | None,
    merge_key: str | None,
    *,
    deleting: bool,
) -> list[Any]:
    if not original and not patch:
        return original
    kind = _check_element_types(original, patch)
    if kind == "scalar":
        if deleting:
            return [item for item in original if not any(_same(item, d) for d in patch)]
        merged: list[Any] = []
        for item in original + patch:
            if not any(_same(item, seen) for seen in merged):
                merged.append(item)
        return _order(merged, patch, original, None)
    if not merge_key:
        raise _BadPatch("cannot merge lists without merge key")
    live = list(original)
    plain: list[Any] = []
    replace = False
    for item in patch:
        directive = item.get(_DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            value = _merge_key_value(item, merge_key)
            live = [o for o in live if not _same(_merge_key_value(o, merge_key), value)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _BadPatch("merging lists cannot yet be specified in the patch")
        else:
            raise _BadPatch(f"unknown patch type: {directive} in map: {item}")
    if replace:
        live, plain = [_fresh(i)[0] for i in plain], []
    for item in plain:
        at = _position(live, item, merge_key)
        if at >= 0:
            live[at] = _merge_map(live[at], item, item_schema)
        else:
            fresh, keep = _fresh(item)
            if keep:
                live.append(fresh)
    return _order(live, plain, live if replace else original, merge_key)


def _merge_value(original: Any, patch: Any, field_schema: Schema | None, *, deleting: bool = False) -> Any:
    strategies, merge_key = _strategies(field_schema)
    if isinstance(original, dict) and isinstance(patch, dict):
        if "replace" in strategies:
            return _fresh(patch)[0]
        return _merge_map(original, patch, field_schema)
    if isinstance(original, list) and isinstance(patch, list):
        if "merge" in strategies or deleting:
            return _merge_list(original, patch, _items(field_schema), merge_key, deleting=deleting)
        return _fresh(patch)[0]
    return _fresh(patch)[0]


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _BadPatch("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE, _SET_ELEMENT_ORDER)):
            continue
        if key not in retain:
            raise _BadPatch("invalid patch format of retainKeys")
    for key in list(original):
        if key not in retain:
            del original[key]


def _check_set_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    """Patch items (deletions aside) must appear in ``order`` in the same relative order."""
    items = [i for i in patch_list if not (isinstance(i, dict) and _DIRECTIVE in i)]
    at = 0
    for item in items:
        while at < len(order) and not _same(
            _merge_key_value(item, merge_key) if merge_key else item,
            _merge_key_value(order[at], merge_key) if merge_key else order[at],
        ):
            at += 1
        if at >= len(order):
            raise _BadPatch(
                f"The order in patch list:\n{patch_list}\n doesn't match $setElementOrder list:\n{order}\n"
            )
        at += 1


def _apply_element_order(original: dict[str, Any], patch: dict[str, Any], schema: Schema | None) -> None:
    for directive in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        key = directive[len(_SET_ELEMENT_ORDER) :]
        if not key or not isinstance(order, list):
            raise _BadPatch("invalid patch format of setElementOrder list")
        field_schema = _field(schema, key)
        strategies, merge_key = _strategies(field_schema)
        live = original.get(key)
        patch_list = patch.get(key)
        if key in original and not isinstance(live, list):
            raise _BadPatch(f"expected a list for {key}")
        if key in patch and not isinstance(patch_list, list):
            raise _BadPatch(f"expected a list for {key}")
        _check_set_order(patch_list or [], order, merge_key)
        if key not in original and key not in patch:
            continue
        if key not in patch:
            merged = live
        elif key not in original:
            merged = _fresh(patch_list)[0]
        else:
            merged = _merge_value(live, patch_list, field_schema)
        patch.pop(key, None)  # consumed here, not again by the field loop
        if _check_element_types(live or [], patch_list or []) is None:
            original[key] = merged
            continue
        order_key = merge_key if merge_key and "merge" in strategies else None
        if order_key is None and merged and isinstance(merged[0], dict):
            original[key] = merged  # a replaced list of maps carries its own order
            continue
        original[key] = _order(merged, order, live or [], order_key)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    patch = dict(patch)
    directive = patch.pop(_DIRECTIVE, None)
    if directive == "replace":
        return _fresh(patch)[0]
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise _BadPatch(f"unknown patch type: {directive} in map: {patch}")
    if _RETAIN_KEYS in patch:
        _apply_retain_keys(original, patch)
    _apply_element_order(original, patch, schema)
    for key, value in patch.items():
        deleting = key.startswith(_DELETE_FROM_PRIMITIVE)
        if deleting:
            key = key[len(_DELETE_FROM_PRIMITIVE) :]
            if not key:
                raise _BadPatch("invalid patch format of primitive list")
            if not isinstance(value, list):
                raise _BadPatch("invalid patch format of primitive list")
        if value is None:
            original.pop(key, None)
            continue
        if key not in original:
            if not deleting:
                fresh, keep = _fresh(value)
                if keep:
                    original[key] = fresh
            continue
        current = original[key]
        if deleting:
            if isinstance(current, list):
                original[key] = _merge_value(current, value, _field(schema, key), deleting=True)
            continue
        fresh_or_merged = _merge_value(current, value, _field(schema, key))
        original[key] = fresh_or_merged
    return original


def strategic_merge_patch(
    obj: dict[str, Any], patch: dict[str, Any], schema: Schema | None
) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of ``obj``.

    ``schema`` is the kind's root schema (``schemas.by_name``/``for_kind``);
    ``None`` means no patch metadata: every list is replaced.
    """
    if not isinstance(patch, dict):
        raise errors.bad_request("invalid JSON document")
    try:
        return _merge_map(copy.deepcopy(obj) if isinstance(obj, dict) else {}, copy.deepcopy(patch), schema)
    except _BadPatch as exc:
        if exc.code == 422:
            raise _unprocessable(str(exc)) from exc
        raise errors.bad_request(str(exc)) from exc
