"""``/openapi/v2`` on a real kubeling server, read by real kubectl 1.37.

kubectl validates a ``kind: List`` file item by item against the v2 document
(protobuf), because a v1 List has no path in ``/openapi/v3``; single objects
keep going through the server's strict field validation.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from kubeling.apiserver.openapiv2 import PROTOBUF
from tests.fixtures.server import KubelingServer, kubectl

pytestmark = pytest.mark.integration

NAMESPACE = "openapi-v2"
CRD_NAME = "gadgets.v2test.example.com"
KUBECTL_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: {name}-settings, namespace: openapi-v2}}
  data: {{mode: fast}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {{name: {name}, namespace: openapi-v2}}
  spec:
    {extra}
    selector: {{matchLabels: {{app: {name}}}}}
    template:
      metadata: {{labels: {{app: {name}}}}}
      spec:
        containers: [{{name: web, image: busybox:1.36}}]
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.v2test.example.com}
spec:
  group: v2test.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              label: {type: string, nullable: true}
"""


@pytest.fixture(scope="module")
def namespace(server: KubelingServer) -> Iterator[str]:
    kubectl(server, "create", "namespace", NAMESPACE)
    try:
        yield NAMESPACE
    finally:
        kubectl(server, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


def fetch(server: KubelingServer, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + "/openapi/v2")
    request.add_header("Authorization", f"Bearer {server.token()}")
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, context=server.ssl_context(), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def names(server: KubelingServer, kind: str) -> list[str]:
    listed = kubectl(server, "get", kind, "-n", NAMESPACE, "-o", "json").stdout
    return sorted(item["metadata"]["name"] for item in json.loads(listed)["items"])


def test_served_as_json_and_protobuf_with_etags(server: KubelingServer) -> None:
    status, headers, body = fetch(server, {"Accept": "application/json"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document["swagger"] == "2.0"
    assert "io.k8s.api.apps.v1.Deployment" in document["definitions"]
    etag = headers["ETag"]

    status, proto_headers, proto = fetch(server, {"Accept": KUBECTL_ACCEPT})
    assert status == 200 and proto_headers["Content-Type"] == PROTOBUF
    assert proto.startswith(b"\x0a\x032.0")  # Document.swagger = "2.0", field 1
    assert proto_headers["ETag"] != etag

    status, _, empty = fetch(server, {"Accept": "application/json", "If-None-Match": etag})
    assert (status, empty) == (304, b"")
    status, _, again = fetch(server, {"Accept": "application/json", "If-None-Match": '"stale"'})
    assert status == 200 and again == body

    status, _, refused = fetch(server, {"Accept": "application/xml"})
    assert status == 406 and json.loads(refused)["reason"] == "NotAcceptable"


def test_kubectl_applies_a_v1_list(server: KubelingServer, namespace: str) -> None:
    result = kubectl(server, "apply", "-f", "-", input=LIST.format(name="listed", extra="replicas: 1"))
    assert "configmap/listed-settings created" in result.stdout
    assert "deployment.apps/listed created" in result.stdout
    assert "listed-settings" in names(server, "configmaps")
    assert "listed" in names(server, "deployments")


def test_kubectl_rejects_a_list_item_with_an_unknown_field(server: KubelingServer, namespace: str) -> None:
    bad = LIST.format(name="typo", extra="foo: 1")
    result = kubectl(server, "apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    # kubectl's own (client-side) wording, naming the field and where it sits
    assert 'ValidationError(Deployment.spec): unknown field "foo"' in result.stderr, result.stderr
    assert "io.k8s.api.apps.v1.DeploymentSpec" in result.stderr
    assert "typo-settings" not in names(server, "configmaps")  # nothing applied


def test_single_objects_are_still_validated_by_the_server(server: KubelingServer, namespace: str) -> None:
    single = LIST.format(name="single", extra="foo: 1").split("- apiVersion: apps/v1\n")[1]
    deployment = "apiVersion: apps/v1\n" + "\n".join(line[2:] for line in single.splitlines())
    result = kubectl(server, "apply", "--validate=strict", "-f", "-", input=deployment, check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.foo"' in result.stderr, result.stderr
    fixed = deployment.replace("foo: 1", "replicas: 1")
    kubectl(server, "apply", "--validate=strict", "-f", "-", input=fixed)
    assert "single" in names(server, "deployments")


def test_custom_resources_in_a_list_follow_their_crd(server: KubelingServer, namespace: str) -> None:
    kubectl(server, "apply", "-f", "-", input=CRD)
    try:
        kubectl(server, "wait", "--for=condition=established", f"crd/{CRD_NAME}", "--timeout=20s")
        gadgets = (
            "apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v2test.example.com/v1, kind: Gadget, "
            "metadata: {name: g1, namespace: openapi-v2}, spec: {size: 3, label: null}}\n"
        )
        deadline = time.monotonic() + 20
        while True:  # discovery of the new group can lag a moment behind Established
            result = kubectl(server, "apply", "-f", "-", input=gadgets, check=False)
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert result.returncode == 0, result.stderr
        assert "gadget.v2test.example.com/g1 created" in result.stdout

        bad = gadgets.replace("g1", "g2").replace("size: 3", "size: 3, colour: red")
        rejected = kubectl(server, "apply", "-f", "-", input=bad, check=False)
        assert rejected.returncode != 0
        assert 'unknown field "colour"' in rejected.stderr, rejected.stderr
        assert "com.example.v2test.v1.Gadget" in json.loads(fetch(server, {})[2])["definitions"]
    finally:
        kubectl(server, "delete", "crd", CRD_NAME, "--wait=true", "--timeout=30s", check=False)
    deadline = time.monotonic() + 20
    while "com.example.v2test.v1.Gadget" in json.loads(fetch(server, {})[2])["definitions"]:
        assert time.monotonic() < deadline, "the CRD's definition outlived the CRD"
        time.sleep(0.5)
