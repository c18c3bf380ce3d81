"""Building blocks shared by every kind's validation.

Field errors are :class:`~kubeling.api.errors.Cause` values whose message is
upstream's ``field.Error.ErrorBody()``: the error type's phrase, the bad value
rendered as Go's ``%q``/``%v``/``%#v`` would render it, then the detail.
Field paths are plain strings in upstream's notation (``spec.containers[0].image``,
``metadata.labels``, ``data[key]``).

The syntax checks (names, label keys and values, ports, IPs, quantities)
return lists of detail messages, worded as upstream's
``k8s.io/apimachinery/pkg/util/validation`` does, so each caller decides the
path and the value to report.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from kubeling.api.errors import Cause

# -- causes -------------------------------------------------------------------

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"

IMMUTABLE = "field is immutable"


def go_repr(value: Any) -> str:
    """The bad value as upstream's error body prints it (Go fmt verbs)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        inner = ", ".join(f"{_go_quote(k)}:{_go_quote(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + inner + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(_go_quote(v) for v in value) + "}"
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return repr(value)


def _go_quote(text: str) -> str:
    # JSON string quoting matches Go's %q for every printable character.
    return orjson.dumps(text).decode()


def invalid_text(path: str, rendered: str, detail: str = "") -> Cause:
    """An Invalid cause whose value is already rendered (Go types with a String method)."""
    return Cause(INVALID, f"Invalid value: {rendered}" + (f": {detail}" if detail else ""), path)


def selector_repr(selector: Any) -> str:
    """A metav1.LabelSelector as Go's ``%#v`` shows it, for immutability errors."""
    if selector is None:
        return "null"
    selector = as_dict(selector)
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    rendered_labels = go_repr(labels) if labels else "map[string]string(nil)"
    rendered_exprs = go_repr(exprs) if exprs else "[]v1.LabelSelectorRequirement(nil)"
    return f"&v1.LabelSelector{{MatchLabels:{rendered_labels}, MatchExpressions:{rendered_exprs}}}"


def required(path: str, detail: str = "") -> Cause:
    return Cause(REQUIRED, "Required value" + (f": {detail}" if detail else ""), path)


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return Cause(INVALID, f"Invalid value: {go_repr(value)}" + (f": {detail}" if detail else ""), path)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    values = ", ".join(_go_quote(v) for v in supported)
    detail = f": supported values: {values}" if values else ""
    return Cause(NOT_SUPPORTED, f"Unsupported value: {go_repr(value)}{detail}", path)


def duplicate(path: str, value: Any) -> Cause:
    return Cause(DUPLICATE, f"Duplicate value: {go_repr(value)}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause(FORBIDDEN, "Forbidden" + (f": {detail}" if detail else ""), path)


def too_long(path: str, max_bytes: int) -> Cause:
    unit = "byte" if max_bytes == 1 else "bytes"
    return Cause(TOO_LONG, f"Too long: may not be more than {max_bytes} {unit}", path)


def too_many(path: str, actual: int, maximum: int) -> Cause:
    return Cause(TOO_MANY, f"Too many: {actual}: must have at most {maximum} items", path)


def immutable(path: str, value: Any) -> Cause:
    return invalid(path, value, IMMUTABLE)


def check_immutable(new: Any, old: Any, path: str) -> list[Cause]:
    return [] if new == old else [immutable(path, new)]


# -- safe access ----------------------------------------------------------------
# Objects arrive as decoded JSON that nothing has type-checked yet; these
# keep one malformed field from crashing the whole validation.


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, item) for the object items of a list field."""
    return [(i, item if isinstance(item, dict) else {}) for i, item in enumerate(as_list(value))]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def non_negative(value: Any, path: str) -> list[Cause]:
    if value is None:
        return []
    if not is_int(value):
        return [invalid(path, value, "must be an integer")]
    return [invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []


def positive(value: Any, path: str) -> list[Cause]:
    if value is None:
        return []
    if not is_int(value):
        return [invalid(path, value, "must be an integer")]
    return [invalid(path, value, "must be greater than 0")] if value <= 0 else []


def enum(value: Any, path: str, supported: Iterable[str], *, allow_empty: bool = True) -> list[Cause]:
    supported = list(supported)
    if value is None or (value == "" and allow_empty):
        return []
    return [] if value in supported else [not_supported(path, value, supported)]


def sub(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# -- names ----------------------------------------------------------------------


def regex_error(message: str, fmt: str, *examples: str) -> str:
    text = message + " ("
    if examples:
        text += "e.g. "
        for i, example in enumerate(examples):
            if i > 0:
                text += " or "
            text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_DNS1123_LABEL = re.compile(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = re.compile(DNS1035_LABEL_FMT)
_QUALIFIED_NAME = re.compile(QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(LABEL_VALUE_FMT)
_CONFIG_KEY = re.compile(CONFIG_KEY_FMT)

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63


def _name_errors(
    value: str, max_len: int, pattern: re.Pattern[str], message: str, fmt: str, *examples: str
) -> list[str]:
    errs = []
    if len(value) > max_len:
        errs.append(max_len_error(max_len))
    if not pattern.fullmatch(value):
        errs.append(regex_error(message, fmt, *examples))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    return _name_errors(
        value,
        DNS1123_LABEL_MAX,
        _DNS1123_LABEL,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character",
        DNS1123_LABEL_FMT,
        "my-name",
        "123-abc",
    )


def is_dns1123_subdomain(value: str) -> list[str]:
    return _name_errors(
        value,
        DNS1123_SUBDOMAIN_MAX,
        _DNS1123_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        "example.com",
    )


def is_dns1035_label(value: str) -> list[str]:
    return _name_errors(
        value,
        DNS1123_LABEL_MAX,
        _DNS1035_LABEL,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
        "start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT,
        "my-name",
        "abc-123",
    )


def is_path_segment_name(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def is_qualified_name(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if name and not _QUALIFIED_NAME.fullmatch(name):
        errs.append(
            "name part "
            + regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return errs


def is_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def is_config_map_key(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _CONFIG_KEY.fullmatch(value):
        errs.append(
            regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                CONFIG_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_env_var_name(value: str) -> list[str]:
    # Relaxed rule (RelaxedEnvironmentVariableValidation, on by default since 1.32).
    if value and all(" " <= c <= "~" and c != "=" for c in value):
        return []
    return [
        "a valid environment variable name must consist only of printable ASCII characters other than '='"
    ]


_PORT_NAME_CHARSET = re.compile(r"[-a-z0-9]+")
_PORT_NAME_LETTER = re.compile(r".*[a-z].*")


def is_port_name(value: str) -> list[str]:
    errs = []
    if len(value) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.fullmatch(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_port_number(value: Any) -> list[str]:
    if is_int(value) and 1 <= value <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def is_ip(value: str) -> list[str]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def is_cidr(value: str) -> list[str]:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return [] if "/" in value else ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]


NameFn = Callable[[str], list[str]]

# -- quantities -----------------------------------------------------------------

QUANTITY_FMT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_ERROR = f"quantities must match the regular expression '{QUANTITY_FMT}'"

_QUANTITY = re.compile(r"([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(.*)")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")


class QuantityError(ValueError):
    pass


def parse_quantity(text: Any) -> Decimal:
    """The value of a resource quantity ("100m", "1.5Gi", "2e3", 4) as an exact Decimal."""
    if is_int(text) or isinstance(text, float):
        return Decimal(str(text))
    if not isinstance(text, str) or not text:
        raise QuantityError(QUANTITY_ERROR)
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise QuantityError(QUANTITY_ERROR)
    sign, digits, suffix = match.groups()
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise QuantityError(QUANTITY_ERROR) from None
    if suffix in _BINARY:
        value = number * (Decimal(2) ** _BINARY[suffix])
    elif suffix in _DECIMAL:
        value = number.scaleb(_DECIMAL[suffix])
    elif exponent := _EXPONENT.fullmatch(suffix):
        value = number.scaleb(int(exponent.group(1)))
    else:
        raise QuantityError(QUANTITY_ERROR)
    return -value if sign == "-" else value


# -- metadata -------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_labels(labels: Any, path: str) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid(path, labels, "must be a map of string keys to string values")]
    errs: list[Cause] = []
    for key, value in labels.items():
        errs += [invalid(path, key, msg) for msg in is_qualified_name(key)]
        if not isinstance(value, str):
            errs.append(invalid(path, value, "label values must be strings"))
            continue
        errs += [invalid(path, value, msg) for msg in is_label_value(value)]
    return errs


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [invalid(path, annotations, "must be a map of string keys to string values")]
    errs: list[Cause] = []
    size = 0
    for key, value in annotations.items():
        errs += [invalid(path, key, msg) for msg in is_qualified_name(key.lower())]
        size += len(key.encode()) + len(str(value).encode())
    if size > TOTAL_ANNOTATION_SIZE:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE))
    return errs


def validate_label_selector(selector: Any, path: str) -> list[Cause]:
    """A metav1.LabelSelector: matchLabels syntax and matchExpressions operators."""
    if selector is None:
        return []
    selector = as_dict(selector)
    errs = validate_labels(selector.get("matchLabels"), sub(path, "matchLabels"))
    for i, expr in dicts(selector.get("matchExpressions")):
        expr_path = f"{path}.matchExpressions[{i}]"
        operator = expr.get("operator")
        values = as_list(expr.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                errs.append(
                    required(f"{expr_path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    forbidden(
                        f"{expr_path}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(
                not_supported(f"{expr_path}.operator", operator, ["In", "NotIn", "Exists", "DoesNotExist"])
            )
        key = expr.get("key")
        if not isinstance(key, str) or not key:
            errs.append(invalid(f"{expr_path}.key", key or "", "name part must be non-empty"))
        else:
            errs += [invalid(f"{expr_path}.key", key, msg) for msg in is_qualified_name(key)]
    return errs


def selector_matches(selector: Any, labels: Any) -> bool:
    """Whether a metav1.LabelSelector selects a set of labels."""
    selector = as_dict(selector)
    labels = as_dict(labels)
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        expr = as_dict(expr)
        key, operator, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    selector = as_dict(selector)
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def validate_object_meta(
    meta: Any, *, namespaced: bool, name_fn: NameFn, path: str = "metadata"
) -> list[Cause]:
    meta = as_dict(meta)
    errs: list[Cause] = []
    name = meta.get("name")
    generate = meta.get("generateName")
    if isinstance(generate, str) and generate:
        # A generateName is checked as a name with its random suffix masked off.
        errs += [invalid(f"{path}.generateName", generate, m) for m in name_fn(_mask_trailing_dash(generate))]
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    elif not isinstance(name, str):
        errs.append(invalid(f"{path}.name", name, "must be a string"))
    else:
        errs += [invalid(f"{path}.name", name, msg) for msg in name_fn(name)]
    namespace = meta.get("namespace")
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        elif not isinstance(namespace, str):
            errs.append(invalid(f"{path}.namespace", namespace, "must be a string"))
        else:
            errs += [invalid(f"{path}.namespace", namespace, msg) for msg in is_dns1123_label(namespace)]
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if generation is not None and (not is_int(generation) or generation < 0):
        errs.append(invalid(f"{path}.generation", generation, "must be greater than or equal to 0"))
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += _validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    errs += _validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    return errs


def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def _validate_owner_references(refs: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    controllers = 0
    for i, ref in dicts(refs):
        if not ref.get("apiVersion"):
            errs.append(
                invalid(f"{path}[{i}].apiVersion", ref.get("apiVersion", ""), "version must not be empty")
            )
        if not ref.get("kind"):
            errs.append(invalid(f"{path}[{i}].kind", ref.get("kind", ""), "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(f"{path}[{i}].name", ref.get("name", ""), "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(f"{path}[{i}].uid", ref.get("uid", ""), "uid must not be empty"))
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        errs.append(invalid(path, refs, "Only one reference can have Controller set to true"))
    return errs


def _validate_finalizers(finalizers: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for i, finalizer in enumerate(as_list(finalizers)):
        if not isinstance(finalizer, str):
            errs.append(invalid(f"{path}[{i}]", finalizer, "must be a string"))
            continue
        errs += [invalid(path, finalizer, msg) for msg in is_qualified_name(finalizer)]
        if finalizer in seen:
            errs.append(duplicate(f"{path}[{i}]", finalizer))
        seen.add(finalizer)
    return errs


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[Cause]:
    new, old = as_dict(new), as_dict(old)
    errs: list[Cause] = []
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if new.get(key) != old.get(key):
            errs.append(immutable(f"{path}.{key}", new.get(key)))
    old_deletion = old.get("deletionTimestamp")
    if old_deletion and new.get("deletionTimestamp") != old_deletion:
        errs.append(immutable(f"{path}.deletionTimestamp", new.get("deletionTimestamp")))
    new_gen, old_gen = new.get("generation"), old.get("generation")
    if is_int(new_gen) and is_int(old_gen) and new_gen < old_gen:
        errs.append(invalid(f"{path}.generation", new_gen, "must not be decremented"))
    return errs
