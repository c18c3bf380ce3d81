"""The scheduler's informer handlers route objects into the queue and the cache (no server involved)."""

from __future__ import annotations

import copy

import pytest

from kubeling.client.kubeconfig import ClientConfig
from kubeling.client.rest import RESTClient
from kubeling.scheduler import queue as q
from kubeling.scheduler.framework import PodInfo
from kubeling.scheduler.scheduler import Scheduler
from tests.unit.scheduler.conftest import make_node, make_pod


@pytest.fixture
def scheduler() -> Scheduler:
    return Scheduler(RESTClient(ClientConfig(server="https://127.0.0.1:1")))


def test_pending_pods_queue_and_bound_pods_cache(scheduler: Scheduler) -> None:
    scheduler._node_added(make_node("n"))
    pending = make_pod("p", cpu="1")
    scheduler._pod_added(pending)
    assert "default/p" in scheduler.queue
    bound = copy.deepcopy(pending)
    bound["spec"]["nodeName"] = "n"
    scheduler._pod_updated(pending, bound)
    assert "default/p" not in scheduler.queue
    assert scheduler.cache.get("n").requested.milli_cpu == 1000
    finished = copy.deepcopy(bound)
    finished["status"]["phase"] = "Succeeded"
    scheduler._pod_updated(bound, finished)
    assert scheduler.cache.get("n").requested.milli_cpu == 0


def test_pods_for_other_schedulers_gated_or_deleting_are_ignored(scheduler: Scheduler) -> None:
    scheduler._pod_added(make_pod("other", schedulerName="my-scheduler"))
    scheduler._pod_added(make_pod("gated", schedulingGates=[{"name": "wait"}]))
    deleting = make_pod("deleting")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    scheduler._pod_added(deleting)
    assert scheduler.queue.counts() == {"active": 0, "backoff": 0, "unschedulable": 0}


async def test_heartbeats_do_not_move_parked_pods_but_label_changes_do(scheduler: Scheduler) -> None:
    node = make_node("n")
    scheduler._node_added(node)
    scheduler._pod_added(make_pod("p"))
    info = await scheduler.queue.pop()
    info.unschedulable_plugins = {"NodeAffinity"}
    info.backoff_until = 0
    scheduler.queue.add_unschedulable(info, cycle=scheduler.queue.scheduling_cycle)
    heartbeat = copy.deepcopy(node)
    heartbeat["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    scheduler._node_updated(node, heartbeat)
    assert scheduler.queue.counts()["unschedulable"] == 1
    labelled = copy.deepcopy(heartbeat)
    labelled["metadata"]["labels"]["disk"] = "ssd"
    scheduler._node_updated(heartbeat, labelled)
    assert scheduler.queue.counts()["unschedulable"] == 0


def test_default_selector_joins_selecting_objects(scheduler: Scheduler) -> None:
    services, _, replica_sets, _ = (i.store for i in scheduler.selecting)
    services.upsert(
        {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}}}
    )
    services.upsert({"metadata": {"name": "db", "namespace": "default"}, "spec": {"selector": {"app": "db"}}})
    replica_sets.upsert(
        {
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web", "hash": "1"}}},
        }
    )
    pod = PodInfo(make_pod("w", labels={"app": "web", "hash": "1"}))
    selector = scheduler.default_selector(pod)
    assert selector is not None and selector.to_string() == "app=web,hash=1"
    assert scheduler.default_selector(PodInfo(make_pod("x", labels={"app": "cache"}))) is None


def test_priority_from_spec_or_priority_class(scheduler: Scheduler) -> None:
    store = scheduler.priority_classes.store
    store.upsert({"metadata": {"name": "high"}, "value": 1000})
    store.upsert({"metadata": {"name": "default"}, "value": 7, "globalDefault": True})
    assert scheduler.priority_of(make_pod(priority=5, priorityClassName="high")) == 5
    assert scheduler.priority_of(make_pod(priorityClassName="high")) == 1000
    assert scheduler.priority_of(make_pod()) == 7
    assert scheduler.priority_of(make_pod(priorityClassName="missing")) == 0
    assert q.PLUGIN_EVENTS["NodeResourcesFit"] >= {q.NODE_ADD, q.ASSIGNED_POD_DELETE}
