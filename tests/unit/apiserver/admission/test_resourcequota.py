import asyncio

import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission.resourcequota import ResourceQuota

from .builders import FakeCharger, FakeLister, attrs, container, make_pod, make_quota


def _setup(*quotas: dict) -> tuple[FakeLister, FakeCharger, ResourceQuota]:
    lister = FakeLister()
    for quota in quotas:
        lister.add("", "resourcequotas", quota)
    charger = FakeCharger(lister)
    return lister, charger, ResourceQuota(lister, charger)


def _used(lister: FakeLister, name: str = "q") -> dict:
    quota = next(q for q in lister.objects[("", "resourcequotas")] if q["metadata"]["name"] == name)
    return quota.get("status", {}).get("used", {})


async def test_third_pod_exceeds_pods_quota() -> None:
    lister, _, plugin = _setup(make_quota("q", {"pods": "2"}))
    for name in ("p1", "p2"):
        await plugin.validate(attrs("pods", name), make_pod(name), None)
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "p3"), make_pod("p3"), None)
    assert err.value.code == 403
    assert err.value.reason == "Forbidden"
    assert err.value.message == (
        'pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'
    )
    assert err.value.details == {"name": "p3", "kind": "pods"}
    assert _used(lister) == {"pods": "2"}


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        pytest.param(
            [container("app")],
            'pods "web" is forbidden: failed quota: q: must specify requests.cpu for: app',
            id="no-requests",
        ),
        pytest.param(
            [container("a", {"cpu": "100m"}), container("b"), container("c")],
            'pods "web" is forbidden: failed quota: q: must specify requests.cpu for: b,c',
            id="some-containers",
        ),
    ],
)
async def test_cpu_quota_requires_requests(containers: list[dict], message: str) -> None:
    _, charger, plugin = _setup(make_quota("q", {"requests.cpu": "1"}))
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "web"), make_pod("web", *containers), None)
    assert err.value.message == message
    assert charger.calls == []


async def test_limits_quota_lists_every_missing_resource() -> None:
    _, _, plugin = _setup(make_quota("q", {"limits.cpu": "2", "limits.memory": "1Gi", "requests.cpu": "1"}))
    pod = make_pod("web", container("app", {"cpu": "100m"}))
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "web"), pod, None)
    assert err.value.message == (
        'pods "web" is forbidden: failed quota: q: must specify limits.cpu for: app; limits.memory for: app'
    )


async def test_compute_quota_charges_and_rejects_overflow() -> None:
    lister, charger, plugin = _setup(make_quota("q", {"requests.cpu": "1", "requests.memory": "1Gi"}))
    pod = make_pod("a", container("app", {"cpu": "500m", "memory": "256Mi"}))
    await plugin.validate(attrs("pods", "a"), pod, None)
    assert charger.calls == [("ns", "q", {"requests.cpu": "500m", "requests.memory": "256Mi"})]
    assert _used(lister) == {"requests.cpu": "500m", "requests.memory": "256Mi"}
    big = make_pod("b", container("app", {"cpu": "600m", "memory": "128Mi"}))
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "b"), big, None)
    assert err.value.message == (
        'pods "b" is forbidden: exceeded quota: q, requested: requests.cpu=600m, '
        "used: requests.cpu=500m, limited: requests.cpu=1"
    )


async def test_count_of_deployments() -> None:
    lister, _, plugin = _setup(make_quota("q", {"count/deployments.apps": "1"}))
    deployment = {"metadata": {"name": "d1", "namespace": "ns"}, "spec": {}}
    await plugin.validate(attrs("deployments", "d1", group="apps"), deployment, None)
    assert _used(lister) == {"count/deployments.apps": "1"}
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("deployments", "d2", group="apps"), deployment, None)
    assert err.value.message == (
        'deployments.apps "d2" is forbidden: exceeded quota: q, requested: count/deployments.apps=1, '
        "used: count/deployments.apps=1, limited: count/deployments.apps=1"
    )
    assert err.value.details == {"name": "d2", "group": "apps", "kind": "deployments"}


async def test_concurrent_creates_share_one_slot() -> None:
    lister, _, plugin = _setup(make_quota("q", {"pods": "1"}))
    results = await asyncio.gather(
        plugin.validate(attrs("pods", "a"), make_pod("a"), None),
        plugin.validate(attrs("pods", "b"), make_pod("b"), None),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, StatusError)]
    assert results.count(None) == 1
    assert len(failures) == 1
    assert "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1" in failures[0].message
    assert _used(lister) == {"pods": "1"}


async def test_dry_run_checks_without_charging() -> None:
    lister, charger, plugin = _setup(make_quota("q", {"pods": "1"}, used={"pods": "0"}))
    await plugin.validate(attrs("pods", "a", dry_run=True), make_pod("a"), None)
    assert charger.calls == []
    assert _used(lister) == {"pods": "0"}
    lister.objects[("", "resourcequotas")][0]["status"]["used"] = {"pods": "1"}
    with pytest.raises(StatusError):
        await plugin.validate(attrs("pods", "a", dry_run=True), make_pod("a"), None)


@pytest.mark.parametrize(
    ("quota_spec", "pod_spec", "covered"),
    [
        pytest.param({"scopes": ["BestEffort"]}, {}, True, id="besteffort-pod"),
        pytest.param(
            {"scopes": ["BestEffort"]},
            {"containers": [container("app", {"cpu": "1"})]},
            False,
            id="burstable-pod-not-besteffort",
        ),
        pytest.param({"scopes": ["NotBestEffort"]}, {}, False, id="notbesteffort"),
        pytest.param({"scopes": ["Terminating"]}, {"activeDeadlineSeconds": 30}, True, id="terminating"),
        pytest.param({"scopes": ["Terminating"]}, {}, False, id="not-terminating"),
        pytest.param({"scopes": ["NotTerminating"]}, {}, True, id="notterminating"),
        pytest.param(
            {
                "scopeSelector": {
                    "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]
                }
            },
            {"priorityClassName": "high"},
            True,
            id="priorityclass-in",
        ),
        pytest.param(
            {
                "scopeSelector": {
                    "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]
                }
            },
            {"priorityClassName": "low"},
            False,
            id="priorityclass-other",
        ),
        pytest.param(
            {"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "Exists"}]}},
            {},
            False,
            id="priorityclass-exists-unset",
        ),
    ],
)
async def test_scopes_decide_coverage(quota_spec: dict, pod_spec: dict, covered: bool) -> None:
    _, charger, plugin = _setup(make_quota("q", {"pods": "0"}, **quota_spec))
    pod = make_pod("web")
    pod["spec"].update(pod_spec)
    if covered:
        with pytest.raises(StatusError, match="exceeded quota: q"):
            await plugin.validate(attrs("pods", "web"), pod, None)
    else:
        await plugin.validate(attrs("pods", "web"), pod, None)
        assert charger.calls == []


def _claim(size: str, rv: str = "") -> dict:
    claim = {
        "metadata": {"name": "data", "namespace": "ns"},
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": size}}},
    }
    if rv:
        claim["metadata"]["resourceVersion"] = rv
    return claim


async def test_claim_expansion_charges_the_difference() -> None:
    hard = {"requests.storage": "10Gi", "fast.storageclass.storage.k8s.io/requests.storage": "8Gi"}
    _, charger, plugin = _setup(make_quota("q", hard))
    await plugin.validate(attrs("persistentvolumeclaims", "data"), _claim("2Gi"), None)
    update = attrs("persistentvolumeclaims", "data", operation="UPDATE")
    await plugin.validate(update, _claim("5Gi", "7"), _claim("2Gi", "6"))
    assert charger.calls[-1] == (
        "ns",
        "q",
        {"requests.storage": "3Gi", "fast.storageclass.storage.k8s.io/requests.storage": "3Gi"},
    )
    # Shrinking gives nothing back at admission (the controller recounts).
    await plugin.validate(update, _claim("1Gi", "8"), _claim("5Gi", "7"))
    assert len(charger.calls) == 2
    with pytest.raises(StatusError) as err:
        await plugin.validate(update, _claim("9Gi", "9"), _claim("5Gi", "8"))
    assert err.value.message == (
        'persistentvolumeclaims "data" is forbidden: exceeded quota: q, '
        "requested: fast.storageclass.storage.k8s.io/requests.storage=4Gi, "
        "used: fast.storageclass.storage.k8s.io/requests.storage=5Gi, "
        "limited: fast.storageclass.storage.k8s.io/requests.storage=8Gi"
    )


async def test_pod_updates_are_not_charged() -> None:
    _, charger, plugin = _setup(make_quota("q", {"pods": "0"}))
    pod = make_pod("web")
    pod["metadata"]["resourceVersion"] = "5"
    await plugin.validate(attrs("pods", "web", operation="UPDATE"), pod, pod)
    await plugin.validate(attrs("pods", "web", subresource="status", operation="UPDATE"), pod, pod)
    assert charger.calls == []


async def test_refused_charge_refunds_other_quotas_then_rejects() -> None:
    lister = FakeLister()
    lister.add("", "resourcequotas", make_quota("a", {"pods": "5"}))
    lister.add("", "resourcequotas", make_quota("b", {"pods": "5"}))
    calls: list[tuple[str, dict[str, str]]] = []

    async def charge(namespace: str, name: str, delta: dict[str, str]) -> bool:
        calls.append((name, delta))
        return name == "a"  # b is always full behind the cache's back

    plugin = ResourceQuota(lister, charge)
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "web"), make_pod("web"), None)
    assert err.value.code == 403
    assert "exceeded quota: b, requested: pods=1" in err.value.message
    # Two attempts, each: charge a, refused by b, refund a.
    assert calls == [("a", {"pods": "1"}), ("b", {"pods": "1"}), ("a", {"pods": "-1"})] * 2


async def test_services_nodeports() -> None:
    _, _, plugin = _setup(make_quota("q", {"services.nodeports": "1"}, used={"services.nodeports": "0"}))
    service = {
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]},
    }
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("services", "s"), service, None)
    assert err.value.message == (
        'services "s" is forbidden: exceeded quota: q, requested: services.nodeports=2, '
        "used: services.nodeports=0, limited: services.nodeports=1"
    )


async def test_usage_stats_required_when_asked() -> None:
    lister = FakeLister()
    lister.add("", "resourcequotas", make_quota("q", {"pods": "5", "secrets": "1"}))
    plugin = ResourceQuota(lister, FakeCharger(lister), require_usage_stats=True)
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "web"), make_pod("web"), None)
    assert err.value.message == 'pods "web" is forbidden: status unknown for quota: q, resources: pods'


async def test_cluster_scoped_and_unquotaed_kinds_pass() -> None:
    _, charger, plugin = _setup(make_quota("q", {"pods": "0"}))
    await plugin.validate(attrs("configmaps", "c"), {"metadata": {"name": "c", "namespace": "ns"}}, None)
    node = {"metadata": {"name": "n1"}}
    await plugin.validate(attrs("nodes", "n1", namespace=""), node, None)
    assert charger.calls == []
