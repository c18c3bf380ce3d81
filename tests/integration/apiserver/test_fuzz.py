"""Property-based fuzzing of the apiserver over HTTP.

Hypothesis sends thousands of random and malformed requests — odd paths,
verbs, bodies, content types, selectors and query parameters — to a real
server.  Every answer must arrive within a deadline with a status below 500,
and in the end the datastore must hold exactly the objects whose creation
the server acknowledged (and did not acknowledge deleting).
"""

from __future__ import annotations

import http.client
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

NAMESPACE = "fuzz"
RESOURCES = [
    ("/api/v1", "configmaps", "ConfigMap", "v1"),
    ("/api/v1", "secrets", "Secret", "v1"),
    ("/api/v1", "pods", "Pod", "v1"),
    ("/api/v1", "services", "Service", "v1"),
    ("/apis/apps/v1", "deployments", "Deployment", "apps/v1"),
    ("/apis/batch/v1", "jobs", "Job", "batch/v1"),
]
CONTENT_TYPES = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
    "",
]

names = st.one_of(
    st.sampled_from(["a", "web", "x-1", "cm-0", "UPPER", "-bad", "a" * 300, "dots.ok", "sp ace", "%2e%2e"]),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=20),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "data",
        "stringData",
        "kind",
        "apiVersion",
        "name",
        "labels",
        "containers",
        "replicas",
        "selector",
        "template",
        "ports",
        "type",
        "clusterIP",
        "finalizers",
        "resourceVersion",
    ]
)


@st.composite
def objects(draw: st.DrawFn) -> dict:
    _, _, kind, api_version = draw(st.sampled_from(RESOURCES))
    obj = draw(st.dictionaries(field_names, json_values, max_size=5))
    if draw(st.booleans()):
        obj["apiVersion"] = api_version
        obj["kind"] = kind
        obj["metadata"] = {"name": draw(names), **draw(st.dictionaries(field_names, json_values, max_size=2))}
    return obj


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    prefix, plural, _, _ = draw(st.sampled_from(RESOURCES))
    shape = draw(st.sampled_from(["collection", "item", "sub", "weird", "cluster"]))
    name = draw(names)
    if shape == "collection":
        path = f"{prefix}/namespaces/{NAMESPACE}/{plural}"
    elif shape == "item":
        path = f"{prefix}/namespaces/{NAMESPACE}/{plural}/{name}"
    elif shape == "sub":
        sub = draw(st.sampled_from(["status", "scale", "binding", "log", "exec", "nope", "finalize"]))
        path = f"{prefix}/namespaces/{NAMESPACE}/{plural}/{name}/{sub}"
    elif shape == "cluster":
        path = f"{prefix}/{plural}"
    else:
        path = draw(
            st.sampled_from(
                [
                    "/api",
                    "/apis",
                    "/apis/nope/v1",
                    "/api/v2/pods",
                    "/openapi/v3/apis/x",
                    "/apis/apps/v1/namespaces",
                    "/api/v1/namespaces/" + name,
                    "/x/y/z",
                    f"/api/v1/namespaces/{NAMESPACE}/pods/a/b/c/d",
                ]
            )
        )
    params = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "labelSelector",
                    "fieldSelector",
                    "limit",
                    "continue",
                    "resourceVersion",
                    "dryRun",
                    "fieldManager",
                    "fieldValidation",
                    "gracePeriodSeconds",
                    "propagationPolicy",
                    "force",
                    "resourceVersionMatch",
                ]
            ),
            st.text(alphabet=string.printable, max_size=15),
            max_size=3,
        )
    )
    query = "&".join(f"{k}={_quote(v)}" for k, v in params.items())
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]))
    body_kind = draw(st.sampled_from(["object", "json", "bytes", "empty"]))
    if body_kind == "object":
        body = json.dumps(draw(objects())).encode()
    elif body_kind == "json":
        body = json.dumps(draw(json_values)).encode()
    elif body_kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = b""
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    if draw(st.booleans()):
        headers["Accept"] = draw(
            st.sampled_from(
                [
                    "application/json;as=Table;v=v1;g=meta.k8s.io",
                    "application/yaml",
                    "application/vnd.kubernetes.protobuf",
                    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                    "*/*",
                ]
            )
        )
    path = "/".join(_quote_segment(p) for p in path.split("/"))
    return method, path + (f"?{query}" if query else ""), body, headers


def _quote_segment(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="%-._~")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


class Connection:
    """A keep-alive HTTPS connection that reconnects when the server closes it."""

    def __init__(self, server: KubelingServer) -> None:
        self.server = server
        self.token = server.token()
        self.conn: http.client.HTTPSConnection | None = None

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.server.port, context=self.server.ssl_context(), timeout=10
                )
            try:
                self.conn.request(
                    method,
                    path,
                    body=body or None,
                    headers={**headers, "Authorization": f"Bearer {self.token}"},
                )
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def fuzz_target(server: KubelingServer) -> tuple[KubelingServer, Connection, dict[str, set[str]]]:
    connection = Connection(server)
    status, _ = connection.send(
        "POST",
        "/api/v1/namespaces",
        json.dumps({"metadata": {"name": NAMESPACE}}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status in (201, 409)
    return server, connection, {}


def _track(acked: dict[str, set[str]], method: str, path: str, status: int, body: bytes) -> None:
    """Remember which objects the server said it created or deleted."""
    if "dryRun" in path or status >= 300:
        return
    try:
        obj = json.loads(body)
    except ValueError:
        return
    if (
        not isinstance(obj, dict)
        or obj.get("kind") in (None, "Status")
        or obj.get("kind", "").endswith("List")
    ):
        return
    meta = obj.get("metadata") or {}
    if meta.get("namespace") != NAMESPACE or not meta.get("name"):
        return
    bucket = acked.setdefault(obj["kind"], set())
    if method == "DELETE" and not meta.get("deletionTimestamp"):
        bucket.discard(meta["name"])
    elif method in ("POST", "PUT", "PATCH") and status in (200, 201):
        bucket.add(meta["name"])


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(request=requests())
def test_no_request_breaks_the_server(fuzz_target, request):
    _, connection, acked = fuzz_target
    method, path, body, headers = request
    status, answer = connection.send(method, path, body, headers)
    assert status < 500, f"{method} {path} {headers} {body[:200]!r} -> {status} {answer[:500]!r}"
    if status >= 400 and method != "HEAD":
        status_obj = json.loads(answer)
        assert status_obj["kind"] == "Status" and status_obj["code"] == status
    _track(acked, method, path, status, answer)


# Objects the cluster itself puts in every namespace: the root CA ConfigMap and
# the default ServiceAccount (controllers), and the kubernetes Service/Endpoints.
SYSTEM_MADE = {"kubernetes", "kube-root-ca.crt", "default"}


def test_datastore_holds_only_acknowledged_objects(fuzz_target):
    _, connection, acked = fuzz_target
    for prefix, plural, kind, _ in RESOURCES:
        status, body = connection.send("GET", f"{prefix}/namespaces/{NAMESPACE}/{plural}", b"", {})
        assert status == 200
        stored = {item["metadata"]["name"] for item in json.loads(body)["items"]}
        assert stored <= acked.get(kind, set()) | SYSTEM_MADE, (kind, stored - acked.get(kind, set()))
        # Objects still held by a grace period or finalizers may linger; everything else acknowledged exists.
        missing = acked.get(kind, set()) - stored
        for name in missing:
            status, _ = connection.send("GET", f"{prefix}/namespaces/{NAMESPACE}/{plural}/{name}", b"", {})
            assert status == 404
