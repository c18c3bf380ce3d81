"""Pure parts of the aggregation layer: APIService rules, printing, headers, discovery merging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import CIMultiDict

from kubeling.api import tables
from kubeling.api.resources import Registry
from kubeling.api.validation import validate
from kubeling.apiserver import discovery
from kubeling.apiserver.aggregator import forwarded_headers
from kubeling.apiserver.authn import User
from kubeling.apiserver.requestheader import RequestHeaderConfig, asserted_user

REGISTRY = Registry()
APISERVICES = REGISTRY.get("apiregistration.k8s.io", "v1", "apiservices")


def make_api_service(name: str = "v1beta1.metrics.k8s.io", **spec: Any) -> dict[str, Any]:
    group, version = name.partition(".")[2], name.partition(".")[0]
    base = {
        "group": group,
        "version": version,
        "groupPriorityMinimum": 100,
        "versionPriority": 100,
        "service": {"namespace": "kube-system", "name": "metrics-server", "port": 443},
    }
    return {"metadata": {"name": name}, "spec": {**base, **spec}}


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (make_api_service(), None),
        (make_api_service("v1.", group="", service=None), None),
        ({**make_api_service(), "metadata": {"name": "v1beta2.metrics.k8s.io"}}, "metadata.name"),
        ({**make_api_service(), "metadata": {"name": "v1beta1"}}, "metadata.name"),
        (make_api_service(groupPriorityMinimum=0), "spec.groupPriorityMinimum"),
        (make_api_service(versionPriority=1001), "spec.versionPriority"),
        (
            make_api_service(service={"namespace": "kube-system", "name": "", "port": 443}),
            "spec.service.name",
        ),
        (make_api_service(service={"namespace": "a", "name": "b", "port": 70000}), "spec.service.port"),
        (make_api_service(caBundle="eA==", insecureSkipTLSVerify=True), "spec.insecureSkipTLSVerify"),
        (make_api_service("v1.", group="", service=None, caBundle="eA=="), "spec.caBundle"),
    ],
    ids=[
        "valid",
        "local-core",
        "name-not-version-group",
        "name-without-dot",
        "group-priority-zero",
        "version-priority-too-high",
        "service-without-name",
        "bad-port",
        "ca-and-insecure",
        "local-with-ca",
    ],
)
def test_api_service_validation(obj: dict[str, Any], field: str | None) -> None:
    causes = validate(APISERVICES, obj)
    assert [c.field for c in causes] == ([field] if field else [])


@pytest.mark.parametrize(
    ("status", "service", "want"),
    [
        ({"conditions": [{"type": "Available", "status": "True", "reason": "Passed"}]}, True, "True"),
        (
            {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]},
            True,
            "False (MissingEndpoints)",
        ),
        ({}, False, "Unknown"),
    ],
    ids=["available", "unavailable", "no-condition"],
)
def test_api_service_table_row(status: dict[str, Any], service: bool, want: str) -> None:
    obj = make_api_service() if service else make_api_service("v1.apps", service=None)
    obj["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    obj["status"] = status
    table = tables.to_table(APISERVICES, [obj], now=datetime(2024, 1, 1, 0, 5, tzinfo=UTC))
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Service", "Available", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[1:] == (["kube-system/metrics-server"] if service else ["Local"]) + [want, "5m"]


HEADERS = RequestHeaderConfig(
    client_ca_file="",
    username_headers=("X-Remote-User",),
    group_headers=("X-Remote-Group",),
    extra_headers_prefixes=("X-Remote-Extra-",),
)


def test_asserted_user_reads_every_group_and_unescaped_extras() -> None:
    headers = CIMultiDict(
        [
            ("X-Remote-User", "alice"),
            ("X-Remote-Group", "a"),
            ("X-Remote-Group", "b"),
            ("X-Remote-Extra-Scopes", "read"),
            ("X-Remote-Extra-Scopes", "write"),
            ("X-Remote-Extra-example.com%2fteam", "blue"),
        ]
    )
    asserted = asserted_user(headers, HEADERS)
    assert asserted is not None
    assert (asserted.name, asserted.groups) == ("alice", ("a", "b"))
    assert asserted.extra == {"scopes": ["read", "write"], "example.com/team": ["blue"]}
    assert asserted_user(CIMultiDict([("X-Remote-Group", "a")]), HEADERS) is None


def test_forwarded_headers_replace_credentials_with_the_identity() -> None:
    incoming = CIMultiDict(
        [
            ("Authorization", "Bearer secret"),
            ("Impersonate-User", "bob"),
            ("X-Remote-User", "mallory"),
            ("Accept", "application/json"),
            ("Connection", "keep-alive"),
        ]
    )
    user = User("alice", groups=("g1", "system:authenticated"), extra={"scopes/x": ["1", "2"]})
    assert forwarded_headers(incoming, user) == [
        ("Accept", "application/json"),
        ("X-Remote-User", "alice"),
        ("X-Remote-Group", "g1"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-scopes%2Fx", "1"),
        ("X-Remote-Extra-scopes%2Fx", "2"),
    ]


def _version(group: str, version: str, group_priority: int, version_priority: int, **kw: Any):
    return discovery.AggregatedVersion(group, version, group_priority, version_priority, **kw)


def test_aggregated_groups_order_by_priority() -> None:
    ordered = discovery.aggregated_groups(
        [
            _version("b.example.com", "v1", 100, 10),
            _version("a.example.com", "v1beta1", 100, 10),
            _version("a.example.com", "v1", 100, 10),
            _version("z.example.com", "v1alpha1", 2000, 5),
        ]
    )
    assert [(g, [v.version for v in vs]) for g, vs in ordered] == [
        ("z.example.com", ["v1alpha1"]),
        ("a.example.com", ["v1", "v1beta1"]),
        ("b.example.com", ["v1"]),
    ]


def test_aggregated_discovery_nests_subresources_and_marks_stale() -> None:
    resource_list = {
        "resources": [
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get"]},
            {"name": "pods/status", "namespaced": True, "kind": "PodMetrics", "verbs": ["get"]},
        ]
    }
    body = discovery.with_aggregated_discovery(
        {"items": []},
        [
            _version("metrics.k8s.io", "v1beta1", 100, 100, resource_list=resource_list, fresh=True),
            _version("down.example.com", "v1", 100, 100),
        ],
    )
    down, metrics = body["items"]  # equal priorities: by name
    version = metrics["versions"][0]
    assert version["freshness"] == "Current"
    assert version["resources"][0]["resource"] == "pods"
    assert version["resources"][0]["scope"] == "Namespaced"
    assert version["resources"][0]["subresources"][0]["subresource"] == "status"
    assert down["versions"][0] == {"version": "v1", "resources": [], "freshness": "Stale"}


def test_aggregation_flags_bind_into_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeling.apiserver import app
    from kubeling.apiserver.config import APIServerConfig
    from kubeling.cli import build_parser

    seen: list[APIServerConfig] = []
    monkeypatch.setattr(app, "run", seen.append)
    args = build_parser().parse_args(
        [
            "apiserver",
            "--storage-backend=sqlite",
            "--requestheader-client-ca-file=/pki/front-proxy-ca.crt",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--proxy-client-cert-file=/pki/front-proxy-client.crt",
            "--proxy-client-key-file=/pki/front-proxy-client.key",
            "--enable-aggregator-routing=true",
        ]
    )
    args.run(args)
    (config,) = seen
    assert config.requestheader_client_ca_file == "/pki/front-proxy-ca.crt"
    assert config.requestheader_allowed_names == ["front-proxy-client"]
    assert config.requestheader_username_headers == ["X-Remote-User"]
    assert config.requestheader_group_headers == ["X-Remote-Group"]
    assert config.requestheader_extra_headers_prefix == ["X-Remote-Extra-"]
    assert (config.proxy_client_cert_file, config.proxy_client_key_file) == (
        "/pki/front-proxy-client.crt",
        "/pki/front-proxy-client.key",
    )
    assert config.enable_aggregator_routing is True
    # The standalone apiserver routes to cluster IPs unless told otherwise, as upstream.
    assert APIServerConfig().enable_aggregator_routing is False


class _Cache:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects

    def list(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("addressType")]


class _Server:
    """Just what routing reads: Services by name and the cached EndpointSlices."""

    def __init__(self, service: dict[str, Any] | None, slices: list[dict[str, Any]]) -> None:
        self.registry = REGISTRY
        self.cache = _Cache(slices)
        self.service = service

    def lookup(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.service if (group, plural, namespace, name) == ("", "services", "ns", "svc") else None


SERVICE = {
    "metadata": {"name": "svc", "namespace": "ns"},
    "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "https", "port": 443, "targetPort": 8443}]},
}


def _slice(ready: bool | None, port_name: str = "https") -> dict[str, Any]:
    conditions = {} if ready is None else {"ready": ready}
    return {
        "metadata": {"namespace": "ns", "labels": {"kubernetes.io/service-name": "svc"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.7"], "conditions": conditions}],
        "ports": [{"name": port_name, "port": 8443}],
    }


@pytest.mark.parametrize(
    ("service", "slices", "endpoint_routing", "want"),
    [
        (SERVICE, [_slice(True)], True, ("10.244.0.7", 8443)),
        (SERVICE, [_slice(None)], True, ("10.244.0.7", 8443)),
        (SERVICE, [_slice(False)], True, "no ready endpoints"),
        (SERVICE, [_slice(True, "metrics")], True, "no ready endpoints"),
        (SERVICE, [], False, ("10.96.0.20", 443)),
        (None, [], False, "is not present"),
        ({**SERVICE, "spec": {**SERVICE["spec"], "clusterIP": "None"}}, [], False, "no clusterIP"),
    ],
    ids=["ready", "ready-unset", "not-ready", "other-port-name", "cluster-ip", "no-service", "headless"],
)
def test_routing(service: Any, slices: list[dict[str, Any]], endpoint_routing: bool, want: Any) -> None:
    from kubeling.apiserver.aggregator import BackendUnavailable, resolve

    ref = {"namespace": "ns", "name": "svc", "port": 443}
    server: Any = _Server(service, slices)
    if isinstance(want, tuple):
        assert resolve(server, ref, endpoint_routing=endpoint_routing) == want
    else:
        with pytest.raises(BackendUnavailable, match=want):
            resolve(server, ref, endpoint_routing=endpoint_routing)
