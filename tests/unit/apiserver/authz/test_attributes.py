"""The 403 message reads exactly like upstream's forbiddenMessage + NewForbidden."""

from __future__ import annotations

import pytest

from kubeling.apiserver.authz.attributes import Attributes, forbidden_error, forbidden_message

from .conftest import request

SA = "system:serviceaccount:ns:sa"


@pytest.mark.parametrize(
    ("attrs", "reason", "expected"),
    [
        pytest.param(
            request(SA, "list", "pods", "ns"),
            "",
            'pods is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "pods" '
            'in API group "" in the namespace "ns"',
            id="namespaced-list",
        ),
        pytest.param(
            request("u", "list", "nodes"),
            "",
            'nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope',
            id="cluster-scope",
        ),
        pytest.param(
            request("u", "create", "pods/exec", "ns", name="web"),
            "",
            'pods "web" is forbidden: User "u" cannot create resource "pods/exec" in API group "" '
            'in the namespace "ns"',
            id="subresource-with-name",
        ),
        pytest.param(
            request("u", "get", "deployments", "ns", group="apps", name="d"),
            "",
            'deployments.apps "d" is forbidden: User "u" cannot get resource "deployments" '
            'in API group "apps" in the namespace "ns"',
            id="group-qualified",
        ),
        pytest.param(
            request("system:anonymous", "get", path="/api/v1"),
            "",
            'forbidden: User "system:anonymous" cannot get path "/api/v1"',
            id="non-resource",
        ),
        pytest.param(
            request("system:node:n1", "get", "secrets", "ns", name="s"),
            "no relationship found between node 'n1' and this object",
            'secrets "s" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" '
            "in the namespace \"ns\": no relationship found between node 'n1' and this object",
            id="with-reason",
        ),
        pytest.param(
            request('we"ird', "get", "pods", "ns"),
            "",
            'pods is forbidden: User "we\\"ird" cannot get resource "pods" '
            'in API group "" in the namespace "ns"',
            id="go-quoting",
        ),
    ],
)
def test_forbidden_message(attrs: Attributes, reason: str, expected: str) -> None:
    assert forbidden_message(attrs, reason) == expected


def test_forbidden_error_status() -> None:
    err = forbidden_error(request("u", "get", "deployments/scale", "ns", group="apps", name="d"))
    assert err.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "d" is forbidden: User "u" cannot get resource "deployments/scale" '
        'in API group "apps" in the namespace "ns"',
        "reason": "Forbidden",
        "details": {"name": "d", "group": "apps", "kind": "deployments"},
        "code": 403,
    }
