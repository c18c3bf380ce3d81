"""Completion indexes of Indexed Jobs: the ``status.completedIndexes`` format and pod indexes.

``completedIndexes`` is a sorted list of ranges and single numbers,
``"1,3-5,7"``.  A pod's index lives in the annotation (and label)
``batch.kubernetes.io/job-completion-index``; one outside ``[0, completions)``
or not a number is no index at all.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def parse_indexes(text: str | None, completions: int | None = None) -> set[int]:
    """``"1,3-5"`` → {1, 3, 4, 5}; numbers at or beyond ``completions`` are dropped."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError:
            continue
        found.update(range(low, high + 1))
    if completions is not None:
        found = {i for i in found if 0 <= i < completions}
    return found


def format_indexes(indexes: set[int] | list[int]) -> str:
    """{1, 3, 4, 5} → ``"1,3-5"``; two neighbours stay a pair, ``"1,2"``, as upstream writes them."""
    parts: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if i == j:
            parts.append(str(ordered[i]))
        else:
            parts.append(f"{ordered[i]}{',' if j == i + 1 else '-'}{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def pod_index(pod: Obj, completions: int | None) -> int | None:
    """The completion index a pod runs, or None when it has none valid for this Job."""
    meta = pod.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(COMPLETION_INDEX)
    if raw is None:
        raw = (meta.get("labels") or {}).get(COMPLETION_INDEX)
    if raw is None or not raw.isdigit():
        return None
    index = int(raw)
    if completions is not None and index >= completions:
        return None
    return index


def indexes_to_create(completions: int, completed: set[int], running: set[int], count: int) -> list[int]:
    """The lowest ``count`` indexes neither completed nor running."""
    wanted: list[int] = []
    for index in range(completions):
        if len(wanted) >= count:
            break
        if index not in completed and index not in running:
            wanted.append(index)
    return wanted
