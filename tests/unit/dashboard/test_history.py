"""The metrics history and its sampler."""

from __future__ import annotations

import pytest

from kubeling.api.errors import StatusError
from kubeling.dashboard.history import NODE_METRICS, POD_METRICS, History, Sample, Sampler


def test_record_sums_containers_and_parses_quantities() -> None:
    history = History(window=60)
    history.record(
        "nodes", [{"metadata": {"name": "n1"}, "usage": {"cpu": "250m", "memory": "1Gi"}}], now=100
    )
    history.record(
        "pods",
        [
            {
                "metadata": {"name": "web", "namespace": "a"},
                "containers": [{"usage": {"cpu": "5000000n", "memory": "10Mi"}}, {"usage": {"cpu": "1m"}}],
            }
        ],
        now=100,
    )
    assert history.points(("nodes", "", "n1")) == [Sample(100, 0.25, float(1 << 30))]
    (pod,) = history.points(("pods", "a", "web"))
    assert pod.cpu == pytest.approx(0.006) and pod.memory == 10 * (1 << 20)


def test_old_points_and_silent_series_are_dropped() -> None:
    history = History(window=60)
    history.add(("pods", "a", "gone"), Sample(0, 1, 1))
    history.add(("pods", "a", "kept"), Sample(0, 1, 1))
    history.add(("pods", "a", "kept"), Sample(50, 1, 1))
    history.prune(now=100)
    assert ("pods", "a", "gone") not in history.series
    assert [s.at for s in history.points(("pods", "a", "kept"))] == [50]


async def test_sampler_keeps_going_when_one_read_fails() -> None:
    answers = {
        NODE_METRICS: StatusError(503, "ServiceUnavailable", "service unavailable"),
        POD_METRICS: {"items": [{"metadata": {"name": "p", "namespace": "n"}, "containers": []}]},
    }

    async def fetch(path: str) -> dict:
        answer = answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer

    history = History()
    sampler = Sampler(fetch, history, interval=15)
    await sampler.sample_once()
    assert "service unavailable" in sampler.last_error
    assert list(history.series) == [("pods", "n", "p")]
