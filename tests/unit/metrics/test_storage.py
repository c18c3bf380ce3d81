"""Usage from the last two points, as upstream's metrics-server storage computes it."""

from __future__ import annotations

from kubeling.metrics.samples import MetricsBatch, PodRef, Point
from kubeling.metrics.storage import MetricsStorage, Usage, usage_between

POD = PodRef("default", "web")


def batch(t: float, node_cpu: int, containers: dict[str, tuple[int, int, float]]) -> MetricsBatch:
    return MetricsBatch(
        nodes={"n1": Point(t, node_cpu, 1000)},
        pods={POD: {name: Point(t, cpu, mem, start) for name, (cpu, mem, start) in containers.items()}},
    )


def test_rate_between_two_points() -> None:
    usage = usage_between(Point(115.0, 3_000_000_000, 77), Point(100.0, 0, 5))
    assert usage == Usage(nanocores=200_000_000, memory=77, timestamp=115.0, window=15.0)


def test_counter_going_back_or_no_time_passed_gives_nothing() -> None:
    assert usage_between(Point(115.0, 5, 1), Point(100.0, 10, 1)) is None
    assert usage_between(Point(100.0, 10, 1), Point(100.0, 5, 1)) is None


def test_node_needs_two_scrapes() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {}))
    assert storage.node_usage("n1") is None
    storage.store(batch(115.0, 1_500_000_000, {}))
    assert storage.node_usage("n1") == Usage(100_000_000, 1000, 115.0, 15.0)


def test_a_repeated_point_keeps_the_previous_pair() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {}))
    storage.store(batch(115.0, 1_500_000_000, {}))
    storage.store(batch(115.0, 1_500_000_000, {}))  # the kubelet answered its cached reading
    assert storage.node_usage("n1") == Usage(100_000_000, 1000, 115.0, 15.0)


def test_missing_from_a_batch_means_gone() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {"c": (1, 10, 50.0)}))
    storage.store(batch(115.0, 15, {"c": (16, 10, 50.0)}))
    assert storage.pod_usage(POD) is not None
    storage.store(MetricsBatch())
    assert storage.node_usage("n1") is None and storage.pod_usage(POD) is None


def test_fresh_container_counts_from_its_start() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {"c": (4_800_000_000, 2048, 88.0)}))  # started 12 s before
    assert storage.pod_usage(POD) == {"c": Usage(400_000_000, 2048, 100.0, 12.0)}


def test_container_too_young_or_old_waits_for_a_second_point() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {"young": (10, 1, 95.0), "old": (10, 1, 10.0)}))
    assert storage.pod_usage(POD) is None
    storage.store(batch(115.0, 0, {"young": (160, 2, 95.0), "old": (310, 3, 10.0)}))
    assert storage.pod_usage(POD) == {"young": Usage(10, 2, 115.0, 15.0), "old": Usage(20, 3, 115.0, 15.0)}


def test_pod_missing_one_containers_metrics_is_skipped() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {"a": (10, 1, 1.0)}))
    storage.store(batch(115.0, 0, {"a": (25, 1, 1.0), "b": (5, 1, 1.0)}))  # b has only one point
    assert storage.pod_usage(POD) is None


def test_restarted_container_starts_over() -> None:
    storage = MetricsStorage(resolution=15.0)
    storage.store(batch(100.0, 0, {"c": (900, 1, 1.0)}))
    storage.store(batch(115.0, 0, {"c": (30, 1, 108.0)}))  # restarted at 108 (7 s ago: not fresh)
    assert storage.pod_usage(POD) is None
    storage.store(batch(130.0, 0, {"c": (60, 1, 108.0)}))
    assert storage.pod_usage(POD) == {"c": Usage(2, 1, 130.0, 15.0)}
