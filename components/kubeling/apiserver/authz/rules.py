"""PolicyRule helpers: does a rule allow a request, does one rule set cover another.

Rules are the JSON dicts stored in Roles and ClusterRoles (``verbs``,
``apiGroups``, ``resources``, ``resourceNames``, ``nonResourceURLs``); a
missing key is an empty list.

Matching follows upstream's ``rbacv1helpers``:

* a verb, group or resource ``*`` matches anything (subresources too);
* ``pods/log`` matches only that subresource, ``*/scale`` the ``scale``
  subresource of any resource; ``pods/*`` is *not* a wildcard upstream (it
  would only match a subresource literally named ``*``), and neither is it here;
* ``resourceNames`` restricts the object name; an empty name (list, create,
  deletecollection) never matches a rule that lists names;
* a non-resource URL matches exactly, or by prefix when it ends in ``*``.

Coverage (:func:`covers`) is upstream's ``validation.Covers``: the servant
rules are broken into one-verb, one-group, one-resource, one-name pieces and each piece
must fit inside some owner rule.  Reconciliation adds exactly the pieces that
do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubeling.apiserver.authz.attributes import Attributes

Rule = Mapping[str, Any]

# The order upstream serialises PolicyRule fields in.
RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _list(rule: Rule, key: str) -> list[str]:
    return list(rule.get(key) or [])


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = _list(rule, "verbs")
    return "*" in verbs or verb in verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    groups = _list(rule, "apiGroups")
    return "*" in groups or group in groups


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    for resource in _list(rule, "resources"):
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = _list(rule, "resourceNames")
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in _list(rule, "nonResourceURLs"):
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    """``RuleAllows``: one rule against one request."""
    if not verb_matches(rule, attrs.verb):
        return False
    if not attrs.is_resource_request:
        return non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (
        api_group_matches(rule, attrs.api_group)
        and resource_matches(rule, combined, attrs.subresource)
        and resource_name_matches(rule, attrs.name)
    )


def rules_allow(attrs: Attributes, rules: Iterable[Rule]) -> bool:
    return any(rule_allows(attrs, rule) for rule in rules)


def make_rule(
    verbs: Iterable[str],
    api_groups: Iterable[str] = (),
    resources: Iterable[str] = (),
    resource_names: Iterable[str] = (),
    non_resource_urls: Iterable[str] = (),
) -> dict[str, list[str]]:
    """A PolicyRule dict with sorted, de-duplicated lists and no empty keys (like upstream's builder)."""
    values = (verbs, api_groups, resources, resource_names, non_resource_urls)
    return {key: sorted(set(value)) for key, value in zip(RULE_FIELDS, values, strict=True) if value}


def rule_key(rule: Rule) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A hashable identity for a rule; missing and empty lists are the same (Semantic.DeepEqual)."""
    return tuple((key, tuple(rule.get(key) or ())) for key in RULE_FIELDS if rule.get(key))


def normalize(rule: Rule) -> dict[str, list[str]]:
    """A plain dict copy with the known fields only, empty ones dropped."""
    return {key: list(rule[key]) for key in RULE_FIELDS if rule.get(key)}


# -- coverage --------------------------------------------------------------------


def breakdown(rule: Rule) -> list[dict[str, list[str]]]:
    """``BreakdownRule``: one rule per verb, group, resource (and name); one per verb and URL."""
    pieces: list[dict[str, list[str]]] = []
    names = _list(rule, "resourceNames")
    for group in _list(rule, "apiGroups"):
        for resource in _list(rule, "resources"):
            for verb in _list(rule, "verbs"):
                base = {"verbs": [verb], "apiGroups": [group], "resources": [resource]}
                if names:
                    pieces.extend({**base, "resourceNames": [name]} for name in names)
                else:
                    pieces.append(base)
    for url in _list(rule, "nonResourceURLs"):
        for verb in _list(rule, "verbs"):
            pieces.append({"verbs": [verb], "nonResourceURLs": [url]})
    return pieces


def _resources_cover(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    if "*" in owner:
        return True
    for resource in wanted:
        if resource in owner:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, wanted: str) -> bool:
    return owner == wanted or (owner.endswith("*") and wanted.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, piece: Rule) -> bool:
    """``ruleCovers``: everything ``piece`` allows, ``owner`` allows too."""
    owner_verbs, owner_groups = _list(owner, "verbs"), _list(owner, "apiGroups")
    owner_names = _list(owner, "resourceNames")
    piece_names = _list(piece, "resourceNames")
    verbs_ok = "*" in owner_verbs or set(_list(piece, "verbs")) <= set(owner_verbs)
    groups_ok = "*" in owner_groups or set(_list(piece, "apiGroups")) <= set(owner_groups)
    resources_ok = _resources_cover(_list(owner, "resources"), _list(piece, "resources"))
    urls_ok = all(
        any(_url_covers(o, w) for o in _list(owner, "nonResourceURLs"))
        for w in _list(piece, "nonResourceURLs")
    )
    names_ok = not owner_names or (bool(piece_names) and set(piece_names) <= set(owner_names))
    return verbs_ok and groups_ok and resources_ok and urls_ok and names_ok


def uncovered(owner_rules: Sequence[Rule], servant_rules: Iterable[Rule]) -> list[dict[str, list[str]]]:
    """The broken-down pieces of ``servant_rules`` that no owner rule covers."""
    return [
        piece
        for rule in servant_rules
        for piece in breakdown(rule)
        if not any(rule_covers(owner, piece) for owner in owner_rules)
    ]


def covers(owner_rules: Sequence[Rule], servant_rules: Iterable[Rule]) -> bool:
    """``validation.Covers``: ``owner_rules`` grant at least what ``servant_rules`` grant."""
    return not uncovered(owner_rules, servant_rules)
