"""Pod requests as upstream computes them: containers, init containers, sidecars, overhead."""

from __future__ import annotations

import pytest

from kubeling.scheduler.resources import Resource, pod_requests, quantity_value


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("cpu", "100m", 100),
        ("cpu", "1", 1000),
        ("cpu", "0.5", 500),
        ("cpu", "1n", 1),  # rounded up to a millicore
        ("memory", "1Ki", 1024),
        ("memory", "1.5Gi", 1610612736),
        ("memory", "1M", 1000000),
        ("nvidia.com/gpu", 2, 2),
    ],
)
def test_quantity_value(name: str, value: str, expected: int) -> None:
    assert quantity_value(name, value) == expected


def container(cpu: str, memory: str = "0", **extra: str) -> dict:
    return {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}


@pytest.mark.parametrize(
    ("spec", "cpu", "memory"),
    [
        pytest.param({"containers": [container("100m"), container("200m")]}, 300, 0, id="containers-add-up"),
        pytest.param(
            {"containers": [container("100m")], "initContainers": [container("500m"), container("200m")]},
            500,
            0,
            id="init-max-wins",
        ),
        pytest.param(
            {
                "containers": [container("100m")],
                "initContainers": [container("50m", restartPolicy="Always"), container("300m")],
            },
            350,
            0,
            id="sidecar-adds-and-runs-beside-later-init",
        ),
        pytest.param(
            {"containers": [container("100m", "1Mi")], "overhead": {"cpu": "10m", "memory": "1Mi"}},
            110,
            2 * 1024 * 1024,
            id="overhead",
        ),
    ],
)
def test_pod_requests(spec: dict, cpu: int, memory: int) -> None:
    got = pod_requests({"spec": spec})
    assert (got.milli_cpu, got.memory) == (cpu, memory)


def test_non_zero_requests_default_missing_cpu_and_memory() -> None:
    pod = {"spec": {"containers": [{"name": "c"}, {"name": "d", "resources": {"requests": {"cpu": "1"}}}]}}
    got = pod_requests(pod, non_zero=True)
    assert (got.milli_cpu, got.memory) == (1100, 2 * 200 * 1024 * 1024)
    assert pod_requests(pod) == Resource(milli_cpu=1000)


def test_extended_resources_are_scalars() -> None:
    got = Resource.from_list({"example.com/foo": "3", "hugepages-2Mi": "4Mi", "bogus": "1"})
    assert got.scalars == {"example.com/foo": 3, "hugepages-2Mi": 4 * 1024 * 1024}
