"""REST URLs from registry resources."""

from __future__ import annotations

import pytest

from kubeling.api.resources import Registry
from kubeling.client.paths import resource_path, with_query

REGISTRY = Registry()


def res(group: str, version: str, kind: str):
    found = REGISTRY.by_kind(group, version, kind)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("resource", "kwargs", "expected"),
    [
        pytest.param(res("", "v1", "Pod"), {}, "/api/v1/pods", id="core-all-namespaces"),
        pytest.param(res("", "v1", "Pod"), {"namespace": "ns"}, "/api/v1/namespaces/ns/pods", id="core-ns"),
        pytest.param(
            res("", "v1", "Pod"),
            {"namespace": "ns", "name": "p", "subresource": "status"},
            "/api/v1/namespaces/ns/pods/p/status",
            id="subresource",
        ),
        pytest.param(res("", "v1", "Node"), {"name": "n1"}, "/api/v1/nodes/n1", id="cluster-scoped"),
        pytest.param(
            res("apps", "v1", "Deployment"),
            {"namespace": "default", "name": "web", "subresource": "scale"},
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            id="named-group",
        ),
        pytest.param(
            res("", "v1", "ConfigMap"),
            {"namespace": "ns", "name": "a/../b"},
            "/api/v1/namespaces/ns/configmaps/a%2F..%2Fb",
            id="name-is-escaped",
        ),
    ],
)
def test_resource_path(resource, kwargs: dict[str, str], expected: str) -> None:
    assert resource_path(resource, **kwargs) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"namespace": "ns", "name": "n"}, "cluster-scoped", id="namespace-on-cluster-scoped"),
        pytest.param({"subresource": "status"}, "needs an object name", id="subresource-without-name"),
    ],
)
def test_resource_path_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resource_path(res("", "v1", "Node"), **kwargs)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, "/p", id="none"),
        pytest.param({"a": None, "b": None}, "/p", id="all-none"),
        pytest.param(
            {"watch": True, "allowWatchBookmarks": False, "limit": 5},
            "/p?watch=true&allowWatchBookmarks=false&limit=5",
            id="bools-and-ints",
        ),
        pytest.param({"labelSelector": "app in (a,b)"}, "/p?labelSelector=app+in+%28a%2Cb%29", id="encoded"),
    ],
)
def test_with_query(params: dict, expected: str) -> None:
    assert with_query("/p", params) == expected
