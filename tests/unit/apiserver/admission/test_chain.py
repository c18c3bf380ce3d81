import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission import default_chain

from .builders import FakeCharger, FakeLister, attrs, container, make_namespace, make_pod, make_quota


def _cluster() -> tuple[FakeLister, FakeCharger]:
    lister = FakeLister()
    lister.add("", "namespaces", make_namespace("ns"))
    lister.add("", "serviceaccounts", {"metadata": {"name": "default", "namespace": "ns"}})
    lister.add(
        "",
        "limitranges",
        {
            "metadata": {"name": "cpu", "namespace": "ns"},
            "spec": {
                "limits": [
                    {"type": "Container", "defaultRequest": {"cpu": "100m"}, "default": {"cpu": "200m"}}
                ]
            },
        },
    )
    lister.add("", "resourcequotas", make_quota("compute", {"requests.cpu": "250m", "pods": "10"}))
    return lister, FakeCharger(lister)


def test_default_order() -> None:
    lister, charger = _cluster()
    assert default_chain(lister, charger).names == (
        [
            "NamespaceLifecycle",
            "LimitRanger",
            "ServiceAccount",
            "NodeRestriction",
            "TaintNodesByCondition",
            "Priority",
            "DefaultTolerationSeconds",
            "DefaultStorageClass",
            "StorageObjectInUseProtection",
        ],
        ["LimitRanger", "NodeRestriction", "PodSecurity", "Priority", "ResourceQuota"],
    )


async def test_limit_range_defaults_satisfy_the_quota() -> None:
    lister, charger = _cluster()
    chain = default_chain(lister, charger, require_service_account=True)
    for name in ("a", "b"):
        pod = make_pod(name, container("app"))
        await chain.admit(attrs("pods", name), pod, None)
        await chain.validate(attrs("pods", name), pod, None)
        assert pod["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "100m"},
            "limits": {"cpu": "200m"},
        }
        assert pod["spec"]["serviceAccountName"] == "default"
    pod = make_pod("c", container("app"))
    await chain.admit(attrs("pods", "c"), pod, None)
    with pytest.raises(StatusError) as err:
        await chain.validate(attrs("pods", "c"), pod, None)
    assert err.value.message == (
        'pods "c" is forbidden: exceeded quota: compute, requested: requests.cpu=100m, '
        "used: requests.cpu=200m, limited: requests.cpu=250m"
    )
    assert [call[2] for call in charger.calls] == [{"pods": "1", "requests.cpu": "100m"}] * 2


async def test_missing_namespace_wins_over_other_plugins() -> None:
    lister, charger = _cluster()
    chain = default_chain(lister, charger, require_service_account=True)
    with pytest.raises(StatusError) as err:
        await chain.admit(attrs("pods", "web", namespace="other"), make_pod("web", namespace="other"), None)
    assert err.value.code == 404
