"""Pure parts of the delegated auth: ConfigMap parsing, front-proxy headers, review attributes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from multidict import CIMultiDict

from kubeling.metrics.auth import (
    AuthSources,
    User,
    apply_flags,
    attributes_for,
    forbidden_message,
    sources_from_configmap,
    user_from_headers,
)
from kubeling.metrics.config import MetricsServerConfig, RequestHeaderConfig
from kubeling.pki.selfsigned import ensure_serving_cert


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    ca, _, _ = ensure_serving_cert(tmp_path_factory.mktemp("ca"), ["localhost"])
    return ca.read_text()


def test_configmap_keys(ca_pem: str) -> None:
    sources = sources_from_configmap(
        {
            "client-ca-file": ca_pem,
            "requestheader-client-ca-file": ca_pem,
            "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        }
    )
    assert len(sources.client_cas) == 1 and len(sources.requestheader_cas) == 1
    assert sources.allowed_names == ["front-proxy-client"]
    assert sources.username_headers == ["X-Remote-User"]
    assert sources.extra_headers_prefix == ["X-Remote-Extra-"]


@pytest.mark.parametrize(
    "data",
    [
        {"client-ca-file": "not a certificate"},
        {"requestheader-client-ca-file": "CA", "requestheader-allowed-names": "front-proxy-client"},
    ],
    ids=["bad-pem", "names-not-json"],
)
def test_malformed_configmap_is_a_value_error(data: dict[str, str], ca_pem: str) -> None:
    data = {k: (ca_pem if v == "CA" else v) for k, v in data.items()}
    with pytest.raises(ValueError):
        sources_from_configmap(data)


def test_flags_override_the_configmap(tmp_path: Path, ca_pem: str) -> None:
    (tmp_path / "proxy-ca.crt").write_text(ca_pem)
    config = MetricsServerConfig(
        requestheader=RequestHeaderConfig(client_ca_file=str(tmp_path / "proxy-ca.crt"), allowed_names=["p"])
    )
    sources = apply_flags(AuthSources(allowed_names=["from-configmap"], username_headers=["X-Other"]), config)
    assert sources.allowed_names == ["p"] and sources.username_headers == ["X-Remote-User"]
    assert len(sources.requestheader_cas) == 1


def test_user_from_headers() -> None:
    sources = AuthSources(
        username_headers=["X-Remote-User"],
        group_headers=["X-Remote-Group"],
        extra_headers_prefix=["X-Remote-Extra-"],
    )
    headers = CIMultiDict(
        [
            ("X-Remote-User", "jane"),
            ("X-Remote-Group", "devs"),
            ("X-Remote-Group", "system:authenticated"),
            ("X-Remote-Extra-Scopes%2Fone", "a"),
            ("x-remote-extra-scopes%2fone", "b"),
        ]
    )
    user = user_from_headers(headers, sources)
    assert user == User("jane", ("devs", "system:authenticated"))
    assert user is not None and user.extra == {"scopes/one": ["a", "b"]}
    assert user_from_headers(CIMultiDict([("X-Remote-Group", "g")]), sources) is None


def resource(verb: str, plural: str, **more: str) -> dict:
    return {
        "resourceAttributes": {
            "verb": verb,
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "resource": plural,
            **more,
        }
    }


DISCOVERY = "/apis/metrics.k8s.io/v1beta1"


@pytest.mark.parametrize(
    ("path", "attributes"),
    [
        (f"{DISCOVERY}/nodes", resource("list", "nodes")),
        (f"{DISCOVERY}/nodes/n1", resource("get", "nodes", name="n1")),
        (f"{DISCOVERY}/namespaces/ns/pods", resource("list", "pods", namespace="ns")),
        (f"{DISCOVERY}/namespaces/ns/pods/p", resource("get", "pods", namespace="ns", name="p")),
        (DISCOVERY, {"nonResourceAttributes": {"path": DISCOVERY, "verb": "get"}}),
        ("/metrics", {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}),
    ],
    ids=["list-nodes", "get-node", "list-pods-in-namespace", "get-pod", "discovery", "non-resource"],
)
def test_attributes_for(path: str, attributes: dict) -> None:
    assert attributes_for("GET", path) == attributes


def test_forbidden_messages_read_as_upstream() -> None:
    user = User("bob")
    assert forbidden_message(user, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods", "") == (
        'pods.metrics.k8s.io is forbidden: User "bob" cannot list resource "pods" '
        'in API group "metrics.k8s.io" in the namespace "ns"'
    )
    assert forbidden_message(user, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/n1", "") == (
        'nodes.metrics.k8s.io "n1" is forbidden: User "bob" cannot get resource "nodes" '
        'in API group "metrics.k8s.io" at the cluster scope'
    )
    assert (
        forbidden_message(user, "GET", "/metrics", "") == 'forbidden: User "bob" cannot get path "/metrics"'
    )
