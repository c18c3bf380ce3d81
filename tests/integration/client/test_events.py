"""EventRecorder through RESTEventSink against a real kubeling server: create, then count via PATCH."""

from __future__ import annotations

import json

import pytest

from kubeling.client.events import EventRecorder, RESTEventSink
from kubeling.client.kubeconfig import load_config
from kubeling.client.rest import RESTClient
from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


async def test_identical_events_become_one_event_with_count(server: KubelingServer) -> None:
    client = RESTClient(load_config(server.kubeconfig))
    sink = RESTEventSink(client)
    recorder = EventRecorder(sink, "test-controller", "host-1")
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "recorded", "namespace": "default", "uid": "1234"},
    }
    for _ in range(3):
        recorder.event(configmap, "Warning", "SyncFailed", "could not sync")
    recorder.event(configmap, "Normal", "Synced", "synced")
    await recorder.close()
    await client.close()

    status, body = server.request(
        "GET", "/api/v1/namespaces/default/events?fieldSelector=source%3Dtest-controller"
    )
    assert status == 200, body
    events = {e["reason"]: e for e in json.loads(body)["items"] if e["involvedObject"].get("uid") == "1234"}
    assert sorted(events) == ["SyncFailed", "Synced"]
    assert events["SyncFailed"]["count"] == 3
    assert events["Synced"]["count"] == 1
    assert events["SyncFailed"]["involvedObject"]["name"] == "recorded"
    assert events["SyncFailed"]["source"] == {"component": "test-controller", "host": "host-1"}
