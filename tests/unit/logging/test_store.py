from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeling.api import errors
from kubeling.api.selectors import parse_label_selector
from kubeling.logging.api import query_from
from kubeling.logging.records import format_time, parse_time
from kubeling.logging.store import InvalidBatch, LogStore, Query

T0 = parse_time("2026-11-23T18:00:00Z")


def line(
    n: int, *, pod: str = "web", namespace: str = "shop", labels: dict[str, str] | None = None, **extra: Any
):
    return {
        "id": f"{pod}file:{n * 10}",
        "time": format_time(T0 + n * 1_000_000_000),
        "log": f"line {n}",
        "stream": "stdout",
        "namespace": namespace,
        "pod": pod,
        "container": "app",
        "containerID": "docker://" + "a" * 64,
        "node": "n1",
        "podUID": "u1",
        "labels": labels if labels is not None else {"app": pod},
        **extra,
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    instance = LogStore(tmp_path / "logs.db")
    yield instance
    instance.close()


def texts(items: list[dict[str, Any]]) -> list[str]:
    return [i["log"] for i in items]


def test_a_batch_sent_twice_lands_once(store: LogStore) -> None:
    batch = [line(n) for n in range(1, 4)]
    assert store.add(batch) == (3, 0)
    assert store.add([*batch, line(4)]) == (1, 3)
    assert texts(store.query(Query())) == ["line 1", "line 2", "line 3", "line 4"]


def test_lines_keep_their_metadata(store: LogStore) -> None:
    store.add([line(1)])
    [item] = store.query(Query())
    assert item == {**line(1), "time": format_time(T0 + 1_000_000_000)}


def test_order_is_time_then_offset_in_the_file(store: LogStore) -> None:
    same_time = [line(1, id=f"f:{offset}") for offset in (30, 10, 20)]
    for item, text in zip(same_time, ("c", "a", "b"), strict=True):
        item["log"] = text
    store.add([line(0), *same_time])
    assert texts(store.query(Query())) == ["line 0", "a", "b", "c"]


def test_filters(store: LogStore) -> None:
    store.add([line(n, pod="web") for n in range(1, 6)])
    store.add([line(n, pod="db", labels={"app": "db", "tier": "back"}) for n in range(1, 3)])
    store.add([line(9, pod="web", namespace="other")])
    assert len(store.query(Query(namespace="shop"))) == 7
    assert texts(store.query(Query(namespace="shop", pod="db"))) == ["line 1", "line 2"]
    assert len(store.query(Query(selector=parse_label_selector("tier=back")))) == 2
    assert len(store.query(Query(selector=parse_label_selector("app in (web,db),tier!=back")))) == 6
    since, until = T0 + 2_000_000_000, T0 + 4_000_000_000
    assert texts(store.query(Query(pod="web", namespace="shop", since_ns=since, until_ns=until))) == [
        "line 2",
        "line 3",
        "line 4",
    ]
    assert texts(store.query(Query(contains="ine 5"))) == ["line 5"]
    assert texts(store.query(Query(namespace="shop", pod="web", limit=2))) == ["line 1", "line 2"]
    assert len(store.query(Query(selector=parse_label_selector("app=web"), limit=3))) == 3


def test_lines_survive_a_reopen_and_retention_deletes_old_ones(tmp_path: Path) -> None:
    first = LogStore(tmp_path / "logs.db")
    first.add([line(n) for n in range(1, 4)])
    first.close()
    again = LogStore(tmp_path / "logs.db")
    assert again.count() == 3
    assert again.delete_before(T0 + 2_500_000_000) == 2
    assert texts(again.query(Query())) == ["line 3"]
    again.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "nocolon"}, "items[1].id"),
        ({"id": "f:x"}, "items[1].id"),
        ({"time": "yesterday"}, "items[1].time"),
        ({"pod": ""}, "namespace and pod are required"),
        ({"labels": {"a": 1}}, "items[1].labels"),
        ({"log": 5}, "items[1].log"),
        ({"node": ["n"]}, "items[1].node"),
    ],
    ids=["id-shape", "id-offset", "time", "pod", "labels", "log", "node"],
)
def test_a_bad_item_rejects_the_whole_batch(store: LogStore, change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidBatch, match=message.replace("[", r"\[").replace("]", r"\]")):
        store.add([line(1), {**line(2), **change}])
    assert store.count() == 0


def test_query_parameters() -> None:
    now = T0 + 600 * 1_000_000_000
    params = {"pod": "web", "labelSelector": "app=web", "sinceSeconds": "60", "limit": "5", "contains": "x"}
    query = query_from(params, "shop", now)
    assert (query.namespace, query.pod, query.limit, query.contains) == ("shop", "web", 5, "x")
    assert query.since_ns == now - 60_000_000_000 and query.selector is not None
    assert query_from({"sinceTime": "2026-11-23T18:00:00Z"}, "", now).since_ns == T0


@pytest.mark.parametrize(
    "params",
    [
        {"sinceSeconds": "ten"},
        {"sinceSeconds": "0"},
        {"sinceSeconds": "5", "sinceTime": "2026-11-23T18:00:00Z"},
        {"untilTime": "soon"},
        {"limit": "-1"},
        {"labelSelector": "a in (b"},
    ],
    ids=["since-word", "since-zero", "both-since", "until", "limit", "selector"],
)
def test_bad_query_parameters_are_400(params: dict[str, str]) -> None:
    with pytest.raises(errors.StatusError) as caught:
        query_from(params, "", T0)
    assert caught.value.code == 400
