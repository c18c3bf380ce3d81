"""EventRecorder: Event shape, aggregation of identical events, the per-object spam filter, sink errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeling.api.errors import StatusError, not_found
from kubeling.client import events
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder


class FakeSink:
    """Stores events like the apiserver would; records every call."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.fail_next: list[Exception] = []

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def create(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", namespace, event["metadata"]["name"]))
        self._maybe_fail()
        stored = {**event, "metadata": {**event["metadata"], "resourceVersion": "1"}}
        self.events[(namespace, event["metadata"]["name"])] = stored
        return stored

    async def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", namespace, name))
        self._maybe_fail()
        if (namespace, name) not in self.events:
            raise not_found("", "events", name)
        self.events[(namespace, name)].update(patch)
        return self.events[(namespace, name)]


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_pod(name: str = "web-1", namespace: str = "ns1", uid: str = "uid-1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": "42"},
    }


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def recorder(sink: FakeSink, clock: FakeClock, wall: Wall) -> EventRecorder:
    return EventRecorder(sink, "kube-controller-manager", "cp-1", clock=clock, wall_clock=wall)


async def test_event_has_upstream_shape(recorder: EventRecorder, sink: FakeSink) -> None:
    recorder.event(make_pod(), "Normal", "Scheduled", "assigned ns1/web-1 to node-a")
    await recorder.close()
    [event] = sink.events.values()
    name = event["metadata"].pop("name")
    assert name.startswith("web-1.")
    int(name.removeprefix("web-1."), 16)  # hex nanoseconds, as upstream
    assert event == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": "ns1", "resourceVersion": "1"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "ns1",
            "name": "web-1",
            "uid": "uid-1",
            "apiVersion": "v1",
            "resourceVersion": "42",
        },
        "reason": "Scheduled",
        "message": "assigned ns1/web-1 to node-a",
        "source": {"component": "kube-controller-manager", "host": "cp-1"},
        "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:04:05Z",
        "count": 1,
        "type": "Normal",
        "reportingComponent": "kube-controller-manager",
        "reportingInstance": "cp-1",
    }


async def test_cluster_scoped_object_events_go_to_default(recorder: EventRecorder, sink: FakeSink) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "uid": "n1"}}
    recorder.event(node, "Warning", "NotReady", "kubelet stopped posting status")
    await recorder.close()
    [(namespace, _)] = sink.events
    assert namespace == "default"


async def test_invalid_type_is_dropped(recorder: EventRecorder, sink: FakeSink) -> None:
    recorder.event(make_pod(), "Info", "Something", "not a valid type")
    await recorder.close()
    assert sink.calls == []


async def test_identical_events_aggregate_into_count(
    recorder: EventRecorder, sink: FakeSink, clock: FakeClock, wall: Wall
) -> None:
    for _ in range(3):
        recorder.event(make_pod(), "Warning", "BackOff", "restarting failed container")
        await recorder.flush()
        wall.now += timedelta(seconds=30)
        clock._now += 30
    await recorder.close()
    assert [call[0] for call in sink.calls] == ["create", "patch", "patch"]
    [event] = sink.events.values()
    assert event["count"] == 3
    assert event["firstTimestamp"] == "2026-01-02T03:04:05Z"
    assert event["lastTimestamp"] == "2026-01-02T03:05:05Z"


@pytest.mark.parametrize(
    ("second", "expected_calls"),
    [
        pytest.param(
            ("Warning", "BackOff", "restarting failed container"), ["create", "patch"], id="identical"
        ),
        pytest.param(("Warning", "BackOff", "another message"), ["create", "create"], id="other-message"),
        pytest.param(
            ("Warning", "Failed", "restarting failed container"), ["create", "create"], id="other-reason"
        ),
        pytest.param(
            ("Normal", "BackOff", "restarting failed container"), ["create", "create"], id="other-type"
        ),
    ],
)
async def test_only_identical_events_aggregate(
    recorder: EventRecorder, sink: FakeSink, second: tuple[str, str, str], expected_calls: list[str]
) -> None:
    recorder.event(make_pod(), "Warning", "BackOff", "restarting failed container")
    recorder.event(make_pod(), *second)
    await recorder.close()
    assert [call[0] for call in sink.calls] == expected_calls


async def test_other_object_does_not_aggregate(recorder: EventRecorder, sink: FakeSink) -> None:
    recorder.event(make_pod("web-1", uid="u1"), "Normal", "Pulled", "image pulled")
    recorder.event(make_pod("web-2", uid="u2"), "Normal", "Pulled", "image pulled")
    await recorder.close()
    assert [call[0] for call in sink.calls] == ["create", "create"]


async def test_aggregation_window_expires(recorder: EventRecorder, sink: FakeSink, clock: FakeClock) -> None:
    recorder.event(make_pod(), "Normal", "Pulled", "image pulled")
    await recorder.flush()
    clock._now += 601
    recorder.event(make_pod(), "Normal", "Pulled", "image pulled")
    await recorder.close()
    assert [call[0] for call in sink.calls] == ["create", "create"]
    assert {event["count"] for event in sink.events.values()} == {1}


async def test_patch_of_deleted_event_recreates_it_with_the_count(
    recorder: EventRecorder, sink: FakeSink
) -> None:
    recorder.event(make_pod(), "Normal", "Pulled", "image pulled")
    await recorder.flush()
    sink.events.clear()  # expired by the server's event TTL
    recorder.event(make_pod(), "Normal", "Pulled", "image pulled")
    await recorder.close()
    assert [call[0] for call in sink.calls] == ["create", "patch", "create"]
    [event] = sink.events.values()
    assert event["count"] == 2


async def test_spam_filter_allows_burst_of_25_per_object_then_one_per_5_minutes(
    recorder: EventRecorder, sink: FakeSink, clock: FakeClock
) -> None:
    for i in range(30):
        recorder.event(make_pod(), "Warning", "Failed", f"attempt {i}")
    recorder.event(make_pod("other", uid="u2"), "Warning", "Failed", "attempt 0")  # its own bucket
    await recorder.flush()
    assert len(sink.calls) == 26
    clock._now += 299
    recorder.event(make_pod(), "Warning", "Failed", "after 299s")
    await recorder.flush()
    assert len(sink.calls) == 26
    clock._now += 1
    recorder.event(make_pod(), "Warning", "Failed", "after 300s")
    recorder.event(make_pod(), "Warning", "Failed", "again at once")
    await recorder.close()
    assert len(sink.calls) == 27  # one token back after 5 minutes, spent at once
    _, namespace, name = sink.calls[26]
    assert sink.events[(namespace, name)]["message"] == "after 300s"


async def test_spam_filter_also_limits_count_patches(recorder: EventRecorder, sink: FakeSink) -> None:
    for _ in range(40):
        recorder.event(make_pod(), "Warning", "BackOff", "restarting failed container")
    await recorder.close()
    assert len(sink.calls) == 25
    [event] = sink.events.values()
    assert event["count"] == 25


@pytest.mark.parametrize(
    ("failures", "expected_attempts", "written"),
    [
        pytest.param([OSError("connection reset")], 2, True, id="network-error-retried"),
        pytest.param([StatusError(403, "Forbidden", "no")], 1, False, id="refusal-not-retried"),
        pytest.param([OSError("down")] * 3, 3, False, id="gives-up-after-max-tries"),
    ],
)
async def test_write_errors(
    sink: FakeSink,
    clock: FakeClock,
    wall: Wall,
    failures: list[Exception],
    expected_attempts: int,
    written: bool,
) -> None:
    recorder = EventRecorder(sink, "c", clock=clock, wall_clock=wall, max_tries=3, retry_interval=10)
    sink.fail_next = list(failures)
    recorder.event(make_pod(), "Normal", "Pulled", "image pulled")
    for _ in range(5):
        await clock.step(10)
    await recorder.close()
    assert len(sink.calls) == expected_attempts
    assert bool(sink.events) is written


async def test_queue_full_drops_are_logged_as_one_count_per_interval(
    recorder: EventRecorder,
    sink: FakeSink,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(events, "QUEUE_SIZE", 2)
    caplog.set_level(logging.WARNING, logger=events.__name__)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    # The writer gets no turn in between: two are queued, 500 dropped, one line says so at once.
    for i in range(502):
        recorder.event(make_pod(f"web-{i}"), "Normal", "Created", "created")
    assert warnings() == [
        "event queue full: dropped 1 event(s) since the last report (latest: Normal 'Created')"
    ]
    await recorder.flush()
    assert len(sink.calls) == 2
    assert len(warnings()) == 1  # the other 499 wait for the interval to pass

    await clock.step(events.DROP_LOG_INTERVAL)
    recorder.event(make_pod(), "Warning", "Failed", "failed")
    await recorder.flush()
    assert warnings()[1:] == [
        "event queue full: dropped 499 event(s) since the last report (latest: Normal 'Created')"
    ]
    await clock.step(events.DROP_LOG_INTERVAL)
    recorder.event(make_pod(), "Normal", "Created", "created")
    await recorder.flush()
    assert len(warnings()) == 2  # nothing dropped since: nothing to say
