"""The indexed store: keys, indexers, replace with tombstones."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.client.store import BY_NAMESPACE, Store, key_of


def make_pod(name: str, namespace: str = "default", *, node: str = "", rv: str = "1") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv},
        "spec": {"nodeName": node},
    }


def by_node(obj: dict[str, Any]) -> list[str]:
    node = obj["spec"].get("nodeName")
    return [node] if node else []


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [key_of(o) for o in objs]


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        pytest.param(make_pod("p", "ns"), "ns/p", id="namespaced"),
        pytest.param({"metadata": {"name": "node-1"}}, "node-1", id="cluster-scoped"),
    ],
)
def test_key_of(obj: dict[str, Any], key: str) -> None:
    assert key_of(obj) == key


def test_indexes_follow_updates_and_deletes() -> None:
    store = Store(indexers={"by_node": by_node})
    store.upsert(make_pod("a", node="n1"))
    store.upsert(make_pod("b", node="n1"))
    store.upsert(make_pod("c", "other", node="n2"))
    assert names(store.by_index("by_node", "n1")) == ["default/a", "default/b"]
    assert names(store.by_index(BY_NAMESPACE, "other")) == ["other/c"]

    old = store.upsert(make_pod("a", node="n2", rv="2"))  # moved to another node
    assert old == make_pod("a", node="n1")
    assert names(store.by_index("by_node", "n1")) == ["default/b"]
    assert names(store.by_index("by_node", "n2")) == ["default/a", "other/c"]

    assert store.delete("default/b") == make_pod("b", node="n1")
    assert store.by_index("by_node", "n1") == []
    assert store.index_values("by_node") == ["n2"]  # no empty entries left behind
    assert store.delete("default/b") is None


def test_indexer_added_later_indexes_existing_objects() -> None:
    store = Store()
    store.upsert(make_pod("a", node="n1"))
    store.upsert(make_pod("b"))
    store.add_indexer("by_node", by_node)
    assert names(store.by_index("by_node", "n1")) == ["default/a"]
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexer("by_node", by_node)
    with pytest.raises(KeyError):
        store.by_index("missing", "x")


def test_replace_reports_added_updated_and_tombstones() -> None:
    store = Store()
    kept_old, gone = make_pod("kept"), make_pod("gone", node="n9")
    store.upsert(kept_old)
    store.upsert(gone)
    kept_new, fresh = make_pod("kept", rv="5"), make_pod("fresh")
    added, updated, deleted = store.replace([kept_new, fresh])
    assert (added, updated, deleted) == ([fresh], [(kept_old, kept_new)], [gone])
    assert sorted(store.keys()) == ["default/fresh", "default/kept"]
    assert store.by_index(BY_NAMESPACE, "default") == [fresh, kept_new]
    assert store.get_by(name="kept", namespace="default") is kept_new
    assert len(store) == 2 and "default/gone" not in store
