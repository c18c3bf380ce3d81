import pytest

from kubeling.apiserver.requestinfo import authorization_name, parse


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "v1", "default", "pods", "", "")),
        ("GET", "/api/v1/pods", {"watch": "true"}, ("watch", "", "v1", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/web", {}, ("get", "", "v1", "ns", "pods", "web", "")),
        (
            "PUT",
            "/api/v1/namespaces/ns/pods/web/status",
            {},
            ("update", "", "v1", "ns", "pods", "web", "status"),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns/pods/web/binding",
            {},
            ("create", "", "v1", "ns", "pods", "web", "binding"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/ns/deployments",
            {},
            ("deletecollection", "apps", "v1", "ns", "deployments", "", ""),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            {},
            ("patch", "apps", "v1", "ns", "deployments", "d", "scale"),
        ),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "v1", "", "namespaces", "", "")),
        ("GET", "/api/v1/namespaces/kube-system", {}, ("get", "", "v1", "", "namespaces", "kube-system", "")),
        ("PUT", "/api/v1/namespaces/x/finalize", {}, ("update", "", "v1", "", "namespaces", "x", "finalize")),
        ("GET", "/api/v1/nodes/n1", {}, ("get", "", "v1", "", "nodes", "n1", "")),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None,
)
def test_resource_requests(method, path, query, expected):
    info = parse(method, path, query)
    assert info.is_resource_request
    assert (
        info.verb,
        info.group,
        info.version,
        info.namespace,
        info.resource,
        info.name,
        info.subresource,
    ) == expected


@pytest.mark.parametrize(
    "path", ["/api", "/apis", "/api/v1", "/apis/apps", "/apis/apps/v1", "/healthz", "/version"]
)
def test_non_resource_requests(path):
    assert not parse("GET", path, {}).is_resource_request


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        ("GET", {"fieldSelector": "metadata.name=cm"}, "cm"),
        ("GET", {"watch": "true", "fieldSelector": "metadata.name==cm,metadata.namespace=ns"}, "cm"),
        ("GET", {"fieldSelector": "metadata.name!=cm"}, ""),
        ("GET", {"fieldSelector": "metadata.name=cm,"}, "cm"),
        ("GET", {"fieldSelector": "=bad"}, ""),
        ("GET", {}, ""),
        ("DELETE", {"fieldSelector": "metadata.name=cm"}, "cm"),  # deletecollection
        ("POST", {"fieldSelector": "metadata.name=cm"}, ""),  # a create names nothing by selector
    ],
)
def test_a_list_pinned_to_one_name_is_authorized_as_that_object(method, query, expected):
    info = parse(method, "/api/v1/namespaces/ns/configmaps", query)
    assert authorization_name(info, query) == expected
    assert info.name == ""  # only authorization sees the name; the handler still lists
