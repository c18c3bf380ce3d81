import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission.limitranger import LimitRanger

from .builders import FakeLister, attrs, container, make_pod


def _limit_range(*items: dict, name: str = "limits") -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"limits": list(items)}}


def _plugin(*ranges: dict) -> LimitRanger:
    lister = FakeLister()
    for limit_range in ranges:
        lister.add("", "limitranges", limit_range)
    return LimitRanger(lister)


CPU_DEFAULTS = {"type": "Container", "defaultRequest": {"cpu": "100m"}, "default": {"cpu": "200m"}}


async def test_container_defaults_are_applied_and_annotated() -> None:
    plugin = _plugin(_limit_range(CPU_DEFAULTS))
    pod = make_pod(
        "web",
        container("app"),
        container("sized", {"cpu": "50m"}, {"cpu": "500m"}),
        initContainers=[container("init", {"cpu": "150m"})],
    )
    await plugin.admit(attrs("pods", "web"), pod, None)
    assert [c["resources"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]] == [
        {"requests": {"cpu": "150m"}, "limits": {"cpu": "200m"}},
        {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}},
        {"requests": {"cpu": "50m"}, "limits": {"cpu": "500m"}},
    ]
    assert pod["metadata"]["annotations"] == {
        "kubernetes.io/limit-ranger": "LimitRanger plugin set: cpu request for container app; "
        "cpu limit for container app; cpu limit for init container init"
    }
    await plugin.validate(attrs("pods", "web"), pod, None)


async def test_item_defaults_follow_max_and_min() -> None:
    # Stored without defaults: max becomes the default limit, min the default request.
    plugin = _plugin(_limit_range({"type": "Container", "max": {"memory": "1Gi"}, "min": {"cpu": "10m"}}))
    pod = make_pod("web", container("app"))
    await plugin.admit(attrs("pods", "web"), pod, None)
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"memory": "1Gi", "cpu": "10m"},
        "limits": {"memory": "1Gi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; memory limit for container app"
    )


async def test_nothing_to_set_leaves_pod_alone() -> None:
    plugin = _plugin(_limit_range(CPU_DEFAULTS))
    pod = make_pod("web", container("app", {"cpu": "1"}, {"cpu": "1"}))
    await plugin.admit(attrs("pods", "web"), pod, None)
    assert "annotations" not in pod["metadata"]


@pytest.mark.parametrize(
    "operation,subresource",
    [pytest.param("UPDATE", "", id="update"), pytest.param("UPDATE", "status", id="status")],
)
async def test_pod_updates_are_skipped(operation: str, subresource: str) -> None:
    plugin = _plugin(_limit_range(CPU_DEFAULTS, {"type": "Container", "min": {"cpu": "1"}}))
    pod = make_pod("web", container("app"))
    request = attrs("pods", "web", operation=operation, subresource=subresource)
    await plugin.admit(request, pod, pod)
    await plugin.validate(request, pod, pod)
    assert pod["spec"]["containers"][0]["resources"] == {}


@pytest.mark.parametrize(
    ("item", "containers", "reason"),
    [
        pytest.param(
            {"type": "Container", "min": {"cpu": "100m"}},
            [container("app", {"cpu": "50m"})],
            "minimum cpu usage per Container is 100m, but request is 50m",
            id="min-request",
        ),
        pytest.param(
            {"type": "Container", "min": {"cpu": "100m"}},
            [container("app")],
            "minimum cpu usage per Container is 100m.  No request is specified",
            id="min-no-request",
        ),
        pytest.param(
            {"type": "Container", "max": {"memory": "1Gi"}},
            [container("app", {"memory": "512Mi"}, {"memory": "2Gi"})],
            "maximum memory usage per Container is 1Gi, but limit is 2Gi",
            id="max-limit",
        ),
        pytest.param(
            {"type": "Container", "max": {"memory": "1Gi"}},
            [container("app", {"memory": "512Mi"})],
            "maximum memory usage per Container is 1Gi.  No limit is specified",
            id="max-no-limit",
        ),
        pytest.param(
            {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
            [container("app", {"cpu": "250m"}, {"cpu": "1"})],
            "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000",
            id="ratio",
        ),
        pytest.param(
            {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
            [container("app", {"cpu": "250m"})],
            "cpu max limit to request ratio per Container is 2, but no limit is specified or limit is 0",
            id="ratio-no-limit",
        ),
        pytest.param(
            {"type": "Pod", "max": {"cpu": "1"}},
            [
                container("a", {"cpu": "600m"}, {"cpu": "600m"}),
                container("b", {"cpu": "600m"}, {"cpu": "600m"}),
            ],
            "maximum cpu usage per Pod is 1, but limit is 1200m",
            id="pod-sum",
        ),
        pytest.param(
            {"type": "Container", "min": {"cpu": "100m", "memory": "64Mi"}},
            [container("app", {"cpu": "50m", "memory": "32Mi"})],
            "[minimum cpu usage per Container is 100m, but request is 50m, "
            "minimum memory usage per Container is 64Mi, but request is 32Mi]",
            id="aggregate",
        ),
    ],
)
async def test_bounds_reject_with_upstream_messages(item: dict, containers: list[dict], reason: str) -> None:
    plugin = _plugin(_limit_range(item))
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "web"), make_pod("web", *containers), None)
    assert err.value.code == 403
    assert err.value.reason == "Forbidden"
    assert err.value.message == f'pods "web" is forbidden: {reason}'


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        pytest.param(
            "500Mi", "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi", id="min"
        ),
        pytest.param(
            "20Gi", "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi", id="max"
        ),
        pytest.param("5Gi", None, id="fits"),
    ],
)
async def test_claim_storage_bounds(size: str, reason: str | None) -> None:
    plugin = _plugin(
        _limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    )
    claim = {
        "metadata": {"name": "data", "namespace": "ns"},
        "spec": {"resources": {"requests": {"storage": size}}},
    }
    for operation in ("CREATE", "UPDATE"):
        request = attrs("persistentvolumeclaims", "data", operation=operation)
        if reason is None:
            await plugin.validate(request, claim, None)
            continue
        with pytest.raises(StatusError) as err:
            await plugin.validate(request, claim, None)
        assert err.value.message == f'persistentvolumeclaims "data" is forbidden: {reason}'


async def test_objects_being_deleted_are_skipped() -> None:
    plugin = _plugin(_limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}}))
    claim = {
        "metadata": {"name": "data", "namespace": "ns"},
        "spec": {"resources": {"requests": {"storage": "1Mi"}}},
    }
    old = {"metadata": {"name": "data", "deletionTimestamp": "2025-01-01T00:00:00Z"}}
    await plugin.validate(attrs("persistentvolumeclaims", "data", operation="UPDATE"), claim, old)
