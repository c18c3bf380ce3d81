"""The garbage collector: owner classification, policies, the graph, and the server's GC finalizers."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.api.resources import Registry
from kubeling.apiserver.store import gc_finalizers
from kubeling.client.rest import RESTClient
from kubeling.controllers.base import ClientSource, ControllerContext
from kubeling.controllers.discovery import APIResource
from kubeling.controllers.garbagecollector import GarbageCollector, classify, deletion_policy
from kubeling.controllers.informers import InformerFactory

Obj = dict[str, Any]
REGISTRY = Registry()
RS = APIResource("apps", "v1", "replicasets", "ReplicaSet", True, frozenset({"list", "watch", "delete"}))
PODS = APIResource("", "v1", "pods", "Pod", True, frozenset({"list", "watch", "delete"}))


def ref(uid: str, kind: str = "ReplicaSet", api_version: str = "apps/v1", block: bool = True) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": f"n-{uid}",
        "uid": uid,
        "blockOwnerDeletion": block,
    }


def obj(uid: str, *owners: Obj, finalizers: list[str] | None = None, deleting: bool = False) -> Obj:
    meta: Obj = {"uid": uid, "name": f"n-{uid}", "namespace": "ns", "ownerReferences": list(owners)}
    if finalizers:
        meta["finalizers"] = finalizers
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def test_classify_sorts_owners_into_solid_dangling_and_waiting() -> None:
    solid, dangling, waiting = classify(
        [
            (ref("a"), obj("a")),
            (ref("b"), None),
            (ref("c"), obj("other-uid")),  # a namesake: the owner we meant is gone
            (ref("d"), obj("d", finalizers=["foregroundDeletion"], deleting=True)),
            (ref("e"), obj("e", finalizers=["orphan"], deleting=True)),
        ]
    )
    assert [r["uid"] for r in solid] == ["a", "e"]
    assert [r["uid"] for r in dangling] == ["b", "c"]
    assert [r["uid"] for r in waiting] == ["d"]


@pytest.mark.parametrize(
    ("finalizers", "policy"),
    [
        (None, "Background"),
        (["orphan"], "Orphan"),
        (["foregroundDeletion"], "Foreground"),
        (["x"], "Background"),
    ],
)
def test_deletion_policy_follows_the_objects_own_finalizers(
    finalizers: list[str] | None, policy: str
) -> None:
    assert deletion_policy(obj("a", finalizers=finalizers)) == policy


@pytest.mark.parametrize(
    ("resource", "finalizers", "policy", "expected"),
    [
        (("apps", "v1", "deployments"), [], None, []),
        (("apps", "v1", "deployments"), ["x"], "Orphan", ["x", "orphan"]),
        (("apps", "v1", "deployments"), ["orphan"], "Foreground", ["foregroundDeletion"]),
        (("apps", "v1", "deployments"), ["orphan", "x"], "Background", ["x"]),
        (("batch", "v1", "jobs"), [], None, ["orphan"]),
        (("", "v1", "replicationcontrollers"), [], None, ["orphan"]),
        (("batch", "v1", "jobs"), ["foregroundDeletion"], None, ["foregroundDeletion"]),
    ],
    ids=[
        "default-cascades",
        "orphan",
        "foreground-replaces",
        "background-clears",
        "job",
        "rc",
        "keeps-existing",
    ],
)
def test_server_deletion_finalizers(
    resource: tuple[str, str, str], finalizers: list[str], policy: str | None, expected: list[str]
) -> None:
    assert gc_finalizers(list(finalizers), policy, REGISTRY.get(*resource)) == expected


@pytest.fixture
def gc() -> GarbageCollector:
    client = RESTClient.__new__(RESTClient)  # never used: the graph needs no I/O
    collector = GarbageCollector(ControllerContext(InformerFactory(client), ClientSource(client)))
    collector.known = {("apps", "ReplicaSet"): RS, ("", "Pod"): PODS}
    return collector


async def drain(collector: GarbageCollector) -> set[str]:
    keys: set[str] = set()
    while len(collector.queue):
        key = await collector.queue.get()
        assert key is not None
        collector.queue.done(key)
        keys.add(key)
    return keys


async def test_graph_links_owners_and_dependents_and_reacts_to_deletes(gc: GarbageCollector) -> None:
    gc._observe(PODS, obj("p1", ref("rs1")))
    assert gc.nodes["rs1"].virtual and gc.nodes["rs1"].dependents == {"p1"}
    assert await drain(gc) == {"delete:rs1"}  # is the unseen owner real?
    gc._observe(RS, obj("rs1"))
    assert not gc.nodes["rs1"].virtual
    await drain(gc)
    gc._forget(obj("rs1"))
    assert await drain(gc) == {"delete:p1"}  # its dependent may now be garbage
    assert gc.nodes["rs1"].virtual  # kept while a dependent still points at it
    gc._forget(obj("p1", ref("rs1")))
    assert "rs1" not in gc.nodes and "p1" not in gc.nodes


async def test_owner_finalizers_enqueue_orphaning_and_foreground_work(gc: GarbageCollector) -> None:
    gc._observe(RS, obj("rs1"))
    gc._observe(PODS, obj("p1", ref("rs1")))
    await drain(gc)
    gc._observe(RS, obj("rs1", finalizers=["orphan"], deleting=True))
    assert "orphan:rs1" in await drain(gc)
    gc._observe(RS, obj("rs1", finalizers=["foregroundDeletion"], deleting=True))
    assert {"delete:rs1", "delete:p1"} <= await drain(gc)
    # A dependent dropping its reference frees the owner waiting in the foreground.
    gc._observe(PODS, obj("p1"))
    assert "delete:rs1" in await drain(gc) and gc.nodes["rs1"].dependents == set()
