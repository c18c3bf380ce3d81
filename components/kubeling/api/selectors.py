"""Label and field selectors, parsed and matched as upstream does.

Label selectors come in two forms:

* the string syntax of ``?labelSelector=`` and ``kubectl -l`` (``a=b``,
  ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, ``a>1``; a comma
  means AND).  :func:`parse_label_selector` is a small lexer plus a
  recursive-descent parser that follows apimachinery's ``labels.Parse``
  token for token, so the error messages read the same.
* the object form ``metav1.LabelSelector`` (``matchLabels`` +
  ``matchExpressions``) found in Deployments, Services' owners, PDBs...
  :func:`label_selector_from_dict` turns it into the same
  :class:`LabelSelector`.

Both yield an immutable :class:`LabelSelector`.  Its ``empty`` property is
upstream's ``Empty()``: no requirement, so it matches everything.  A *nil*
``metav1.LabelSelector`` is different: upstream turns it into
``labels.Nothing()``, which matches no object; :data:`NOTHING` (``nothing``
is True) stands for it.

Field selectors (``?fieldSelector=``) are ``field=value`` / ``field==value`` /
``field!=value`` terms joined by commas, with ``\\``, ``\\,`` and ``\\=``
escapes in values.  Which fields exist depends on the resource, as in
upstream's per-kind field label conversion functions: every resource has
``metadata.name`` and ``metadata.namespace``, pods, events, nodes, secrets...
add their own (:data:`FIELDS`), custom resources add their CRD's
``selectableFields``.  :func:`field_value` computes the string a field has
on an object, for selectors and for informer indexers alike.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeling.api import errors
from kubeling.api.validation.common import go_repr, is_label_value, is_qualified_name

if TYPE_CHECKING:
    from kubeling.api.resources import Resource

# -- label selectors ---------------------------------------------------------------


class Operator(enum.StrEnum):
    """``selection.Operator`` values, spelled as upstream spells them."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# The order upstream lists binary operators in its "expected: ..." message.
_BINARY = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term of a label selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        # Gt / Lt compare integers; a value that is not one never matches.
        if not present or len(self.values) != 1:
            return False
        have, want = labels[self.key], self.values[0]
        if not _INTEGER.fullmatch(have) or not _INTEGER.fullmatch(want):
            return False
        if op is Operator.GREATER_THAN:
            return int(have) > int(want)
        return int(have) < int(want)

    def to_string(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements, sorted by key like upstream's internalSelector."""

    requirements: tuple[Requirement, ...] = ()
    # True only for the selector a nil metav1.LabelSelector becomes: it
    # selects nothing at all (labels.Nothing()).
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """No restriction: every set of labels matches (``Empty()``)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def to_string(self) -> str:
        return ",".join(r.to_string() for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have, if the selector pins it (for indexes)."""
        for r in self.requirements:
            if r.key == key:
                exact = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                return r.values[0] if r.operator in exact and len(r.values) == 1 else None
        return None

    def __str__(self) -> str:
        return self.to_string()


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _field_error(path: str, value: str, detail: str) -> str:
    # field.Invalid(...).Error(); a parser path is nil, which Go prints "<nil>".
    return f"{path}: Invalid value: {go_repr(value)}: {detail}"


def _key_error(key: str, path: str = "<nil>") -> str | None:
    problems = is_qualified_name(key)
    return _field_error(path, key, "; ".join(problems)) if problems else None


def new_requirement(key: str, operator: Operator, values: Iterable[str]) -> Requirement:
    """``labels.NewRequirement``: check the key, the operator's arity and each value.

    Raises ``ValueError`` with upstream's (aggregated) field error text.
    """
    vals = list(values)
    problems: list[str] = []
    if (err := _key_error(key, "key")) is not None:
        problems.append(err)
    if operator in (Operator.IN, Operator.NOT_IN):
        if not vals:
            detail = "for 'in', 'notin' operators, values set can't be empty"
            problems.append(f"values: Invalid value: {go_repr(vals)}: {detail}")
    elif operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
        if len(vals) != 1:
            problems.append(
                f"values: Invalid value: {go_repr(vals)}: exact-match compatibility requires one single value"
            )
    elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if vals:
            detail = "values set must be empty for exists and does not exist"
            problems.append(f"values: Invalid value: {go_repr(vals)}: {detail}")
    else:
        if len(vals) != 1:
            detail = "for 'Gt', 'Lt' operators, exactly one value is required"
            problems.append(f"values: Invalid value: {go_repr(vals)}: {detail}")
        for i, v in enumerate(vals):
            if not _INTEGER.fullmatch(v):
                problems.append(
                    _field_error(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    for i, v in enumerate(vals):
        if bad := is_label_value(v):
            problems.append(_field_error(f"values[{i}][{key}]", v, "; ".join(bad)))
    if problems:
        raise ValueError(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
    return Requirement(key, operator, tuple(vals))


# -- the string syntax: lexer ------------------------------------------------------


class _Tok(enum.Enum):
    ERROR = enum.auto()
    END = enum.auto()
    CLOSE = enum.auto()
    COMMA = enum.auto()
    NOT = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER = enum.auto()
    IDENTIFIER = enum.auto()
    IN = enum.auto()
    LESS = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN = enum.auto()


_LITERALS = {
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
    "!": _Tok.NOT,
    "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS,
    ">": _Tok.GREATER,
    "in": _Tok.IN,
    "<": _Tok.LESS,
    "!=": _Tok.NOT_EQUALS,
    "notin": _Tok.NOT_IN,
    "(": _Tok.OPEN,
}
_SPECIAL = set("=!(),><")
_SPACE = set(" \t\r\n")


def _lex(text: str) -> list[tuple[_Tok, str]]:
    items: list[tuple[_Tok, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _SPACE:
            pos += 1
        if pos >= n:
            items.append((_Tok.END, ""))
            return items
        if text[pos] in _SPECIAL:
            # Longest run of symbols that still spells a token ("!=" over "!").
            best: tuple[_Tok, str] | None = None
            end = pos
            while end < n and text[end] in _SPECIAL:
                candidate = text[pos : end + 1]
                if candidate in _LITERALS:
                    best = (_LITERALS[candidate], candidate)
                elif best is not None:
                    break
                end += 1
            assert best is not None  # every single symbol is a token
            items.append(best)
            pos += len(best[1])
            continue
        start = pos
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _SPACE:
            pos += 1
        word = text[start:pos]
        items.append((_LITERALS.get(word, _Tok.IDENTIFIER), word))


# -- the string syntax: parser -------------------------------------------------------


class _Parser:
    """``labels.Parser``: "in"/"notin" are plain identifiers where values go."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _token(self, index: int, as_value: bool) -> tuple[_Tok, str]:
        tok, lit = self.items[index]
        if as_value and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.IDENTIFIER
        return tok, lit

    def peek(self, as_value: bool = True) -> tuple[_Tok, str]:
        return self._token(self.pos, as_value)

    def take(self, as_value: bool = True) -> tuple[_Tok, str]:
        self.pos += 1
        return self._token(self.pos - 1, as_value)

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok is _Tok.END:
                return requirements
            if tok not in (_Tok.IDENTIFIER, _Tok.NOT):
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except ValueError as exc:
                raise ValueError(f"unable to parse requirement: {exc}") from None
            tok, lit = self.take()
            if tok is _Tok.END:
                return requirements
            if tok is not _Tok.COMMA:
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_Tok.IDENTIFIER, _Tok.NOT):
                raise ValueError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator: Operator | None = None
        tok, lit = self.take()
        if tok is _Tok.NOT:
            operator = Operator.DOES_NOT_EXIST
            tok, lit = self.take()
        if tok is not _Tok.IDENTIFIER:
            raise ValueError(f"found '{lit}', expected: identifier")
        key = lit
        if (err := _key_error(key)) is not None:
            raise ValueError(err)
        if operator is None and self.peek()[0] in (_Tok.END, _Tok.COMMA):
            operator = Operator.EXISTS
        if operator is not None:
            # "!key" ends the requirement: "!a=b" then fails on the "=".
            return new_requirement(key, operator, [])
        operator = self.operator()
        values = self.value_set() if operator in (Operator.IN, Operator.NOT_IN) else self.exact_value()
        return new_requirement(key, operator, sorted(values))

    def operator(self) -> Operator:
        tok, lit = self.take(as_value=False)
        table = {
            _Tok.IN: Operator.IN,
            _Tok.EQUALS: Operator.EQUALS,
            _Tok.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
            _Tok.GREATER: Operator.GREATER_THAN,
            _Tok.LESS: Operator.LESS_THAN,
            _Tok.NOT_IN: Operator.NOT_IN,
            _Tok.NOT_EQUALS: Operator.NOT_EQUALS,
        }
        if tok not in table:
            raise ValueError(f"found '{lit}', expected: {', '.join(op.value for op in _BINARY)}")
        return table[tok]

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok is not _Tok.OPEN:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok is _Tok.CLOSE:  # "()" is the set holding the empty value
            self.take()
            return {""}
        if tok not in (_Tok.IDENTIFIER, _Tok.COMMA):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.take()[0] is not _Tok.CLOSE:
            raise ValueError(f"found '{lit}', expected: ')'")
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok is _Tok.IDENTIFIER:
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt is _Tok.COMMA:
                    continue
                if nxt is _Tok.CLOSE:
                    return values
                raise ValueError(f"found '{nlit}', expected: ',' or ')'")
            if tok is _Tok.COMMA:
                # Empty members: "(,a)", "(a,)" and "(a,,b)" all hold "".
                if not values:
                    values.add("")
                nxt, _ = self.peek()
                if nxt is _Tok.CLOSE:
                    values.add("")
                    return values
                if nxt is _Tok.COMMA:
                    self.take()
                    values.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.peek()
        if tok in (_Tok.END, _Tok.COMMA):
            return {""}
        tok, lit = self.take()
        if tok is _Tok.IDENTIFIER:
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form; an empty string selects everything.

    Raises a 400 BadRequest :class:`~kubeling.api.errors.StatusError` with
    upstream's message on bad syntax or an invalid key or value.
    """
    try:
        requirements = _Parser(text).parse()
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """``metav1.LabelSelectorAsSelector``.

    ``None`` selects nothing (:data:`NOTHING`); ``{}`` selects everything.
    Raises a 400 BadRequest on an unknown operator or invalid key/value.
    """
    if selector is None:
        return NOTHING
    requirements: list[Requirement] = []
    try:
        for key, value in sorted((selector.get("matchLabels") or {}).items()):
            requirements.append(new_requirement(key, Operator.EQUALS, [value]))
        for expr in selector.get("matchExpressions") or []:
            op_name = expr.get("operator")
            operator = _EXPRESSION_OPERATORS.get(op_name)
            if operator is None:
                raise ValueError(f"{go_repr(op_name)} is not a valid label selector operator")
            requirements.append(new_requirement(expr.get("key") or "", operator, expr.get("values") or []))
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: the string form, ``<none>`` when empty."""
    try:
        text = label_selector_from_dict(selector).to_string()
    except errors.StatusError:
        return "<error>"
    return text or "<none>"


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, ``<none>`` when empty."""
    text = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
    return text or "<none>"


# -- field selectors -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def matches(self, actual: str) -> bool:
        return (actual != self.value) if self.operator == "!=" else (actual == self.value)

    def to_string(self) -> str:
        op = "!=" if self.operator == "!=" else "="
        return f"{self.field}{op}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of ``field op value`` terms."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def check_supported(self, resource: Resource) -> None:
        """400 BadRequest for the first field ``resource`` cannot be selected by."""
        supported = supported_fields(resource.group, resource.plural, crd=resource.crd)
        for r in self.requirements:
            if r.field not in supported:
                raise unsupported_field(r.field)

    def matches(
        self,
        resource_plural: str,
        group: str,
        obj: Mapping[str, Any],
        *,
        crd: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether ``obj`` satisfies every term; an unknown field is a 400."""
        for r in self.requirements:
            actual = field_value(group, resource_plural, obj, r.field, crd=crd)
            if actual is None:
                raise unsupported_field(r.field)
            if not r.matches(actual):
                return False
        return True

    def matcher(self, resource: Resource) -> Callable[[Mapping[str, Any]], bool]:
        """Validate against ``resource`` once, then match objects of it."""
        self.check_supported(resource)
        return lambda obj: self.matches(resource.plural, resource.group, obj, crd=resource.crd)

    def requires_exact_match(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.operator != "!=":
                return r.value
        return None

    def to_string(self) -> str:
        return ",".join(r.to_string() for r in self.requirements)

    def __str__(self) -> str:
        return self.to_string()


def escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(value: str) -> str:
    """``fields.UnescapeValue``: only ``\\\\``, ``\\,`` and ``\\=`` are escapes."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            # Go prints the rune with %v: its code point.
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if escaped:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, escaped = 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``?fieldSelector=``; bad syntax is a 400 BadRequest."""
    requirements: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)) if text else []:
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        lhs, op, rhs = split
        try:
            value = unescape_field_value(rhs)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        requirements.append(FieldRequirement(lhs, op, value))
    return FieldSelector(tuple(requirements))


def unsupported_field(field: str) -> errors.StatusError:
    return errors.bad_request(f"field label not supported: {field}")


# -- which fields each resource has ------------------------------------------------------


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _text(value: Any) -> str:
    """A field's string form: strconv.FormatBool / Itoa for bools and numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path(*path: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda obj: _text(_get(obj, *path))


def _count(*path: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda obj: str(_get(obj, *path) or 0)


def _pod_ip(pod: Mapping[str, Any]) -> str:
    ips = _get(pod, "status", "podIPs") or []
    if ips and isinstance(ips[0], Mapping):
        return _text(ips[0].get("ip"))
    return _text(_get(pod, "status", "podIP"))


FieldGetter = Callable[[Mapping[str, Any]], str]

_POD_FIELDS: dict[str, FieldGetter] = {
    "spec.nodeName": _path("spec", "nodeName"),
    "spec.restartPolicy": _path("spec", "restartPolicy"),
    "spec.schedulerName": _path("spec", "schedulerName"),
    "spec.serviceAccountName": _path("spec", "serviceAccountName"),
    # Upstream reports false when the pod does not ask for the host network.
    "spec.hostNetwork": lambda pod: "true" if _get(pod, "spec", "hostNetwork") is True else "false",
    "status.phase": _path("status", "phase"),
    "status.podIP": _pod_ip,
    "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    # Old v1 clients send spec.host for spec.nodeName.
    "spec.host": _path("spec", "nodeName"),
}

_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

_CORE_EVENT_FIELDS: dict[str, FieldGetter] = {
    **{f"involvedObject.{k}": _path("involvedObject", k) for k in _INVOLVED},
    "reason": _path("reason"),
    # core/v1 serialises ReportingController under the JSON key reportingComponent.
    "reportingComponent": _path("reportingComponent"),
    "source": _path("source", "component"),
    "type": _path("type"),
}

_EVENTS_V1_FIELDS: dict[str, FieldGetter] = {
    **{f"regarding.{k}": _path("regarding", k) for k in _INVOLVED},
    "reason": _path("reason"),
    "reportingController": _path("reportingController"),
    "type": _path("type"),
}

# (group, plural) -> kind-specific fields, beside metadata.name/namespace.
FIELDS: dict[tuple[str, str], dict[str, FieldGetter]] = {
    ("", "pods"): _POD_FIELDS,
    ("", "events"): _CORE_EVENT_FIELDS,
    ("events.k8s.io", "events"): _EVENTS_V1_FIELDS,
    ("", "secrets"): {"type": _path("type")},
    ("", "namespaces"): {"status.phase": _path("status", "phase")},
    ("", "nodes"): {"spec.unschedulable": lambda node: _text(bool(_get(node, "spec", "unschedulable")))},
    ("", "replicationcontrollers"): {"status.replicas": _count("status", "replicas")},
    ("", "services"): {"spec.clusterIP": _path("spec", "clusterIP"), "spec.type": _path("spec", "type")},
    ("apps", "replicasets"): {"status.replicas": _count("status", "replicas")},
    ("batch", "jobs"): {"status.successful": _count("status", "succeeded")},
    ("certificates.k8s.io", "certificatesigningrequests"): {"spec.signerName": _path("spec", "signerName")},
}

_META_FIELDS = ("metadata.name", "metadata.namespace")


def _selectable(crd: Mapping[str, Any] | None, version: str | None = None) -> dict[str, str]:
    """A CRD's ``selectableFields``: field label -> JSON path (``.spec.color``)."""
    if not crd:
        return {}
    found: dict[str, str] = {}
    for v in _get(crd, "spec", "versions") or []:
        if version is not None and v.get("name") != version:
            continue
        for item in v.get("selectableFields") or []:
            path = item.get("jsonPath") or ""
            found[path.lstrip(".")] = path
    return found


def supported_fields(group: str, plural: str, *, crd: Mapping[str, Any] | None = None) -> set[str]:
    return {*_META_FIELDS, *FIELDS.get((group, plural), {}), *_selectable(crd)}


def field_value(
    group: str, plural: str, obj: Mapping[str, Any], field: str, *, crd: Mapping[str, Any] | None = None
) -> str | None:
    """The string ``field`` has on ``obj``, or None if the resource has no such field.

    A supported field that the object leaves unset reads as ``""``.  Custom
    resources pass their CRD to reach its ``selectableFields``.
    """
    if field == "metadata.name":
        return _text(_get(obj, "metadata", "name"))
    if field == "metadata.namespace":
        return _text(_get(obj, "metadata", "namespace"))
    getter = FIELDS.get((group, plural), {}).get(field)
    if getter is not None:
        return getter(obj)
    path = _selectable(crd).get(field)
    if path is not None:
        return _text(_get(obj, *[p for p in path.split(".") if p]))
    return None
