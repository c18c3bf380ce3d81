import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.admission.namespacelifecycle import NamespaceLifecycle

from .builders import FakeLister, attrs, make_namespace, make_pod


def _lister(*namespaces: dict) -> FakeLister:
    lister = FakeLister()
    for namespace in namespaces:
        lister.add("", "namespaces", namespace)
    return lister


async def test_create_in_missing_namespace_is_not_found() -> None:
    plugin = NamespaceLifecycle(_lister())
    with pytest.raises(StatusError) as err:
        await plugin.admit(attrs("pods", "web", namespace="nope"), make_pod("web", namespace="nope"), None)
    assert (err.value.code, err.value.reason, err.value.message) == (
        404,
        "NotFound",
        'namespaces "nope" not found',
    )


async def test_create_in_terminating_namespace_is_forbidden() -> None:
    plugin = NamespaceLifecycle(_lister(make_namespace("ns", phase="Terminating")))
    with pytest.raises(StatusError) as err:
        await plugin.validate(attrs("pods", "web"), make_pod("web"), None)
    assert err.value.code == 403
    assert err.value.message == (
        'pods "web" is forbidden: unable to create new content in namespace ns because it is being terminated'
    )
    assert err.value.details["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": "namespace ns is being terminated",
            "field": "metadata.namespace",
        }
    ]


@pytest.mark.parametrize(
    ("operation", "plural", "namespace"),
    [
        pytest.param("UPDATE", "pods", "ns", id="update-in-terminating"),
        pytest.param("DELETE", "pods", "ns", id="delete-in-terminating"),
        pytest.param("DELETE", "pods", "gone", id="delete-in-missing"),
        pytest.param("CREATE", "nodes", "", id="cluster-scoped"),
        pytest.param("CREATE", "namespaces", "", id="namespace-itself"),
    ],
)
async def test_allowed_requests(operation: str, plural: str, namespace: str) -> None:
    plugin = NamespaceLifecycle(_lister(make_namespace("ns", phase="Terminating")))
    await plugin.admit(attrs(plural, "x", namespace=namespace, operation=operation), {}, None)


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_immortal_namespaces(name: str) -> None:
    plugin = NamespaceLifecycle(_lister(make_namespace(name)))
    with pytest.raises(StatusError) as err:
        await plugin.admit(attrs("namespaces", name, namespace="", operation="DELETE"), {}, None)
    assert err.value.code == 403
    assert err.value.message == f'namespaces "{name}" is forbidden: this namespace may not be deleted'


async def test_cache_miss_falls_back_to_storage() -> None:
    fetched: list[str] = []

    async def fetch(name: str) -> dict | None:
        fetched.append(name)
        return make_namespace(name) if name == "fresh" else None

    plugin = NamespaceLifecycle(_lister(), fetch_namespace=fetch)
    await plugin.admit(attrs("pods", "web", namespace="fresh"), {}, None)
    with pytest.raises(StatusError):
        await plugin.admit(attrs("pods", "web", namespace="nope"), {}, None)
    assert fetched == ["fresh", "nope"]


async def test_recently_deleted_namespace_is_looked_up_live() -> None:
    now = [100.0]

    async def fetch(name: str) -> dict | None:
        return make_namespace(name, phase="Terminating")

    plugin = NamespaceLifecycle(_lister(make_namespace("ns")), fetch_namespace=fetch, clock=lambda: now[0])
    await plugin.admit(attrs("pods", "web"), {}, None)  # cache says Active
    await plugin.admit(attrs("namespaces", "ns", namespace="", operation="DELETE"), {}, None)
    with pytest.raises(StatusError, match="being terminated"):
        await plugin.admit(attrs("pods", "web"), {}, None)
    now[0] += 31  # the cache has surely caught up by now
    await plugin.admit(attrs("pods", "web"), {}, None)
