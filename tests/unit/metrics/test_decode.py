"""/metrics/resource text → points, as the kubelet (kubelet/summary.py) writes it."""

from __future__ import annotations

import pytest

from kubeling.metrics.decode import DecodeError, decode, parse_line
from kubeling.metrics.samples import PodRef, Point

TEXT = """\
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 1234.500000000 1700000000000
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 2147483648 1700000000000
container_cpu_usage_seconds_total{container="busy",namespace="default",pod="burn"} 2.000000001 1700000001500
container_memory_working_set_bytes{container="busy",namespace="default",pod="burn"} 1048576 1700000001500
container_start_time_seconds{container="busy",namespace="default",pod="burn"} 1699999990.0 1700000001500
container_cpu_usage_seconds_total{container="idle",namespace="default",pod="nostats"} 0 1700000001500
container_memory_working_set_bytes{container="idle",namespace="default",pod="nostats"} 0 1700000001500
pod_cpu_usage_seconds_total{namespace="default",pod="burn"} 2.000000001 1700000001500
scrape_error 0
"""


def test_decode_node_and_containers() -> None:
    batch = decode(TEXT, "n1", scraped_at=5.0)
    assert batch.nodes == {"n1": Point(1_700_000_000.0, 1_234_500_000_000, 2147483648)}
    assert batch.pods == {
        PodRef("default", "burn"): {"busy": Point(1_700_000_001.5, 2_000_000_001, 1048576, 1_699_999_990.0)}
    }


def test_sample_without_timestamp_takes_the_scrape_time() -> None:
    text = "node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes 10\n"
    assert decode(text, "n1", scraped_at=42.0).nodes["n1"] == Point(42.0, 1_000_000_000, 10)


def test_label_values_with_escapes() -> None:
    name, labels, value, ts = parse_line('m{a="x\\"y",b="c\\\\d,e",c="n\\nl"} 3.5')
    assert (name, labels, value, ts) == ("m", {"a": 'x"y', "b": "c\\d,e", "c": "n\nl"}, 3.5, None)


@pytest.mark.parametrize(
    "line",
    [
        'node_cpu_usage_seconds_total{a="b" 1',
        "node_cpu_usage_seconds_total",
        "node_cpu_usage_seconds_total one",
        "node_cpu_usage_seconds_total 1 2 3",
    ],
)
def test_malformed_lines_are_decode_errors(line: str) -> None:
    with pytest.raises(DecodeError):
        decode(line + "\n", "n1", scraped_at=0.0)
