"""The collector's rounds over real files with a real (in-memory) store behind a stand-in shipper."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubeling.logging.collector import Collector
from kubeling.logging.config import CollectorConfig
from kubeling.logging.store import LogStore, Query
from tests.fixtures.dockerlogs import NodeLogs

NODE = "node-a"


class StoreShipper:
    """Ships straight into a LogStore; ``fail_after_store`` loses the answer once (the store has it)."""

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.fail_after_store = False
        self.sent: list[str] = []

    async def ship(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        added, duplicates = self.store.add(items)
        self.sent += [i["id"] for i in items]
        if self.fail_after_store:
            self.fail_after_store = False
            raise asyncio.CancelledError  # killed before the answer arrived
        return {"added": added, "duplicates": duplicates}


def make_collector(tmp_path: Path, node: NodeLogs, store: LogStore, **overrides: Any) -> Collector:
    settings: dict[str, Any] = {
        "node_name": NODE,
        "container_log_dir": str(node.link_dir),
        "docker_containers_dir": str(node.containers_dir),
        "positions_file": str(tmp_path / "positions.json"),
        "scan_interval": 0.0,
        "poll_interval": 0.001,
        "unknown_pod_wait": 0.0,
    }
    config = CollectorConfig(**{**settings, **overrides})
    collector = Collector(config, client=object(), shipper=StoreShipper(store))  # type: ignore[arg-type]
    collector.positions.load()
    return collector


def pod(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels}}


async def settle(collector: Collector, rounds: int = 20) -> None:
    for _ in range(rounds):
        await collector.step()


@pytest.fixture
def store() -> LogStore:
    return LogStore(":memory:")


async def test_numbered_lines_arrive_in_order_across_rotation_with_metadata(
    tmp_path: Path, store: LogStore
) -> None:
    node = NodeLogs(tmp_path / "node")
    web = node.container("web", "shop", "app", node=NODE)
    collector = make_collector(tmp_path, node, store, batch_lines=7)
    collector.metadata.upsert(pod("web", "shop", {"app": "web"}))
    expected = []
    for n in range(1, 61):
        web.write(f"line {n}")
        expected.append(f"line {n}")
        if n % 20 == 0:
            web.rotate()
        if n % 9 == 0:
            await collector.step()
    await settle(collector)
    lines = store.query(Query(namespace="shop", pod="web"))
    assert [i["log"] for i in lines] == expected
    assert (
        lines[0]["labels"] == {"app": "web"} and lines[0]["node"] == NODE and lines[0]["podUID"] == "uid-web"
    )
    collector.close()


async def test_a_restart_between_store_and_commit_duplicates_nothing(tmp_path: Path, store: LogStore) -> None:
    node = NodeLogs(tmp_path / "node")
    web = node.container("web", "shop", "app", node=NODE)
    web.write(*(f"line {n}" for n in range(1, 31)))
    first = make_collector(tmp_path, node, store, batch_lines=10)
    await first.step()
    first.shipper.fail_after_store = True  # type: ignore[attr-defined]
    with pytest.raises(asyncio.CancelledError):
        await first.step()  # the store has lines 11-20, the positions file still says 10
    first.close()
    web.write(*(f"line {n}" for n in range(31, 41)))
    second = make_collector(tmp_path, node, store, batch_lines=10)
    await settle(second)
    assert [i["log"] for i in store.query(Query())] == [f"line {n}" for n in range(1, 41)]
    assert len(second.shipper.sent) == 30  # type: ignore[attr-defined]  # 11-20 again (ignored), 21-40
    second.close()


async def test_a_deleted_pods_last_lines_keep_its_labels(tmp_path: Path, store: LogStore) -> None:
    node = NodeLogs(tmp_path / "node")
    job = node.container("job", "batch", "main", node=NODE)
    collector = make_collector(tmp_path, node, store)
    collector.metadata.upsert(pod("job", "batch", {"app": "job"}))
    job.write("1")
    await settle(collector, 3)
    job.write("2", "3")
    collector.metadata.delete(pod("job", "batch", {"app": "job"}))
    job.remove()
    await settle(collector, 5)
    assert [(i["log"], i["labels"]) for i in store.query(Query())] == [(t, {"app": "job"}) for t in "123"]
    assert collector.containers == {} and collector.positions.entries == {}


async def test_other_nodes_containers_are_left_to_their_collector(tmp_path: Path, store: LogStore) -> None:
    node = NodeLogs(tmp_path / "node")
    node.container("mine", "ns", "c", node=NODE).write("mine")
    node.container("theirs", "ns", "c", node="node-b").write("theirs")
    node.container("unlabelled", "ns", "c").write("unlabelled")
    collector = make_collector(tmp_path, node, store)
    await settle(collector, 3)
    assert sorted(i["log"] for i in store.query(Query())) == ["mine", "unlabelled"]
    collector.close()


async def test_an_unknown_pod_waits_for_its_metadata_for_a_while(tmp_path: Path, store: LogStore) -> None:
    node = NodeLogs(tmp_path / "node")
    node.container("new", "ns", "c", node=NODE).write("hello")
    collector = make_collector(tmp_path, node, store, unknown_pod_wait=60.0)
    await settle(collector, 2)
    assert store.count() == 0
    collector.metadata.upsert(pod("new", "ns", {"fresh": "yes"}))
    await settle(collector, 2)
    assert [i["labels"] for i in store.query(Query())] == [{"fresh": "yes"}]
    collector.close()
