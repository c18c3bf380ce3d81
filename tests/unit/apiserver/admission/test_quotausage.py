from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kubeling.apiserver.admission.quotausage import pod_is_live, tracks, usage_of
from kubeling.apiserver.admission.resourcequota import format_quantity

from .builders import container, make_pod

D = Decimal


@pytest.mark.parametrize(
    ("value", "resource", "text"),
    [
        pytest.param("0.5", "cpu", "500m", id="cpu-fraction"),
        pytest.param("2", "cpu", "2", id="cpu-whole"),
        pytest.param("1.5", "requests.cpu", "1500m", id="cpu-and-a-half"),
        pytest.param(str(128 * 2**20), "memory", "128Mi", id="memory-binary"),
        pytest.param(str(3 * 2**30), "requests.memory", "3Gi", id="memory-gi"),
        pytest.param("256000000", "limits.memory", "256M", id="memory-decimal-shorter"),
        pytest.param("1000", "memory", "1k", id="memory-1k"),
        pytest.param("123456789", "requests.storage", "123456789", id="storage-plain"),
        pytest.param("3", "pods", "3", id="count"),
        pytest.param("0", "pods", "0", id="zero"),
        pytest.param("-1", "pods", "-1", id="negative"),
        pytest.param("0.0000001", "cpu", "100n", id="nano"),
    ],
)
def test_format_quantity(value: str, resource: str, text: str) -> None:
    assert format_quantity(Decimal(value), resource) == text


def test_pod_usage_sums_containers_and_init_peak() -> None:
    pod = make_pod(
        "web",
        container("a", {"cpu": "100m", "memory": "64Mi"}, {"cpu": "200m"}),
        container("b", {"cpu": "300m"}),
        initContainers=[container("init", {"cpu": "1", "memory": "32Mi"})],
    )
    assert usage_of("", "pods", pod) == {
        "count/pods": D(1),
        "pods": D(1),
        "cpu": D("1"),
        "requests.cpu": D("1"),
        "limits.cpu": D("0.2"),
        "memory": D(64 * 2**20),
        "requests.memory": D(64 * 2**20),
    }


def test_sidecars_add_to_the_pod() -> None:
    pod = make_pod(
        "web",
        container("app", {"cpu": "500m"}),
        initContainers=[
            container("sidecar", {"cpu": "200m"}, restartPolicy="Always"),
            container("setup", {"cpu": "600m"}),
        ],
    )
    # max(app + sidecar, sidecar + setup) = max(700m, 800m)
    assert usage_of("", "pods", pod)["requests.cpu"] == D("0.8")


@pytest.mark.parametrize(
    ("status", "metadata", "live"),
    [
        pytest.param({"phase": "Running"}, {}, True, id="running"),
        pytest.param({"phase": "Succeeded"}, {}, False, id="succeeded"),
        pytest.param({"phase": "Failed"}, {}, False, id="failed"),
        pytest.param(
            {},
            {"deletionTimestamp": "2030-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30},
            True,
            id="deleting-within-grace",
        ),
        pytest.param(
            {},
            {"deletionTimestamp": "2020-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30},
            False,
            id="past-grace",
        ),
    ],
)
def test_terminal_pods_hold_only_their_count(status: dict, metadata: dict, live: bool) -> None:
    pod = make_pod("web", container("a", {"cpu": "1"}))
    pod["status"] = status
    pod["metadata"].update(metadata)
    assert pod_is_live(pod, datetime(2025, 1, 1, tzinfo=UTC)) is live
    assert ("requests.cpu" in usage_of("", "pods", pod)) is live


@pytest.mark.parametrize(
    ("group", "plural", "obj", "usage"),
    [
        pytest.param(
            "",
            "services",
            {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}},
            {"count/services": 1, "services": 1, "services.loadbalancers": 0, "services.nodeports": 0},
            id="clusterip",
        ),
        pytest.param(
            "",
            "services",
            {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 81}]}},
            {"count/services": 1, "services": 1, "services.loadbalancers": 1, "services.nodeports": 2},
            id="loadbalancer",
        ),
        pytest.param(
            "",
            "persistentvolumeclaims",
            {"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1.5Gi"}}}},
            {
                "count/persistentvolumeclaims": 1,
                "persistentvolumeclaims": 1,
                "gold.storageclass.storage.k8s.io/persistentvolumeclaims": 1,
                "requests.storage": 1610612736,
                "gold.storageclass.storage.k8s.io/requests.storage": 1610612736,
            },
            id="claim",
        ),
        pytest.param("", "configmaps", {}, {"count/configmaps": 1, "configmaps": 1}, id="configmap-legacy"),
        pytest.param("", "secrets", {}, {"count/secrets": 1, "secrets": 1}, id="secret-legacy"),
        pytest.param("", "endpoints", {}, {"count/endpoints": 1}, id="core-count"),
        pytest.param("apps", "deployments", {}, {"count/deployments.apps": 1}, id="group-count"),
    ],
)
def test_usage_of(group: str, plural: str, obj: dict, usage: dict) -> None:
    assert usage_of(group, plural, obj) == {k: Decimal(v) for k, v in usage.items()}


@pytest.mark.parametrize(
    ("group", "plural", "name", "tracked"),
    [
        ("", "pods", "requests.cpu", True),
        ("", "pods", "requests.example.com/gpu", True),
        ("", "pods", "requests.storage", False),
        ("", "pods", "count/pods", True),
        ("", "persistentvolumeclaims", "gold.storageclass.storage.k8s.io/requests.storage", True),
        ("", "services", "pods", False),
        ("apps", "deployments", "count/deployments.apps", True),
        ("apps", "deployments", "count/replicasets.apps", False),
        ("", "configmaps", "configmaps", True),
    ],
)
def test_tracks(group: str, plural: str, name: str, tracked: bool) -> None:
    assert tracks(group, plural, name) is tracked
