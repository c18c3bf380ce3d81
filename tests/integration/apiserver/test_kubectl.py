"""Real kubectl 1.37 against a real kubeling server, as a user would drive it."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from tests.fixtures.server import KubelingServer, kubectl, kubectl_env, kubectl_path

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        ports: [{{containerPort: 80}}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
data:
  mode: fast
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 80}}]
"""


@pytest.fixture(params=["sqlite", "etcd"])
def srv(request: pytest.FixtureRequest) -> KubelingServer:
    return request.getfixturevalue("server" if request.param == "sqlite" else "etcd_backed_server")


def _ns(request: pytest.FixtureRequest) -> str:
    return (
        "t-"
        + request.node.name.split("[")[0].replace("_", "-")[5:30].strip("-")
        + "-"
        + request.node.callspec.id
    )


def test_version_and_api_resources(srv):
    version = json.loads(kubectl(srv, "version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1" and version["serverVersion"]["minor"] == "37"
    resources = kubectl(srv, "api-resources").stdout
    for line in ("deployments", "deploy", "apps/v1", "pods", "po", "customresourcedefinitions"):
        assert line in resources
    names = kubectl(srv, "api-resources", "--namespaced=false", "-o", "name").stdout.split()
    assert "nodes" in names and "namespaces" in names and "pods" not in names


def test_system_namespaces_and_kubernetes_service(srv):
    out = kubectl(srv, "get", "namespaces", "-o", "name").stdout.split()
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{ns}" in out
    svc = json.loads(kubectl(srv, "get", "service", "kubernetes", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == "10.96.0.1"


def test_apply_is_idempotent_and_tables(srv, request):
    ns = _ns(request)
    manifest = DEPLOYMENT.format(ns=ns)
    first = kubectl(srv, "apply", "-f", "-", input=manifest).stdout
    assert f"namespace/{ns} created" in first and "deployment.apps/web created" in first
    second = kubectl(srv, "apply", "-f", "-", input=manifest).stdout
    assert "deployment.apps/web unchanged" in second and "configmap/settings unchanged" in second
    table = kubectl(srv, "get", "deployments", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:2] == ["web", "0/2"]
    wide = kubectl(srv, "get", "deploy", "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert "busybox:1.36" in wide[1] and "app=web" in wide[1]
    svc = kubectl(srv, "get", "svc", "web", "-n", ns).stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1].split()[1] == "ClusterIP" and svc[1].split()[2].startswith("10.")
    labels = kubectl(srv, "get", "deploy", "-n", ns, "--show-labels").stdout
    assert "app=web" in labels
    everywhere = kubectl(srv, "get", "configmaps", "-A").stdout
    assert ns in everywhere and "settings" in everywhere


def test_output_formats(srv, request):
    ns = _ns(request)
    kubectl(srv, "create", "namespace", ns)
    kubectl(srv, "create", "configmap", "cfg", "-n", ns, "--from-literal=a=1", "--from-literal=b=2")
    as_json = json.loads(kubectl(srv, "get", "cm", "cfg", "-n", ns, "-o", "json").stdout)
    assert as_json["data"] == {"a": "1", "b": "2"}
    assert as_json["metadata"]["uid"] and int(as_json["metadata"]["resourceVersion"]) > 0
    as_yaml = yaml.safe_load(kubectl(srv, "get", "cm", "cfg", "-n", ns, "-o", "yaml").stdout)
    assert as_yaml["kind"] == "ConfigMap"
    path = kubectl(srv, "get", "cm", "cfg", "-n", ns, "-o", "jsonpath={.data.b}").stdout
    assert path == "2"
    kubectl(srv, "create", "secret", "generic", "pw", "-n", ns, "--from-literal=password=s3cret")
    secret = kubectl(srv, "get", "secret", "pw", "-n", ns).stdout.splitlines()
    assert secret[0].split() == ["NAME", "TYPE", "DATA", "AGE"] and secret[1].split()[1:3] == ["Opaque", "1"]


def test_label_annotate_patch_and_selectors(srv, request):
    ns = _ns(request)
    kubectl(srv, "apply", "-f", "-", input=DEPLOYMENT.format(ns=ns))
    kubectl(srv, "label", "deployment", "web", "-n", ns, "tier=frontend")
    kubectl(srv, "annotate", "deployment", "web", "-n", ns, "owner=team-a")
    selected = kubectl(srv, "get", "deploy", "-n", ns, "-l", "tier=frontend", "-o", "name").stdout.split()
    assert selected == ["deployment.apps/web"]
    assert (
        kubectl(srv, "get", "deploy", "-n", ns, "-l", "tier in (backend)", "-o", "name").stdout.strip() == ""
    )
    kubectl(
        srv,
        "patch",
        "deployment",
        "web",
        "-n",
        ns,
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}',
    )
    kubectl(
        srv,
        "patch",
        "deployment",
        "web",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"merged":"yes"}}}',
    )
    kubectl(
        srv,
        "patch",
        "deployment",
        "web",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":4}]',
    )
    obj = json.loads(kubectl(srv, "get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "frontend", "merged": "yes"}
    assert obj["metadata"]["annotations"]["owner"] == "team-a"
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["generation"] >= 3
    by_field = kubectl(
        srv, "get", "cm", "-A", "--field-selector", f"metadata.namespace={ns}", "-o", "name"
    ).stdout
    assert _user_made(by_field) == ["configmap/settings"]


def test_scale_uses_the_scale_subresource(srv, request):
    ns = _ns(request)
    kubectl(srv, "apply", "-f", "-", input=DEPLOYMENT.format(ns=ns))
    assert "scaled" in kubectl(srv, "scale", "deployment", "web", "-n", ns, "--replicas=5").stdout
    replicas = kubectl(srv, "get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout
    assert replicas == "5"


def test_server_side_apply_and_diff(srv, request):
    ns = _ns(request)
    manifest = DEPLOYMENT.format(ns=ns)
    out = kubectl(srv, "apply", "--server-side", "-f", "-", input=manifest).stdout
    assert "deployment.apps/web serverside-applied" in out
    managed = json.loads(
        kubectl(srv, "get", "deploy", "web", "-n", ns, "-o", "json", "--show-managed-fields").stdout
    )
    managers = {m["manager"]: m["operation"] for m in managed["metadata"]["managedFields"]}
    assert managers.get("kubectl") == "Apply"
    changed = manifest.replace("replicas: 2", "replicas: 3")
    diff = kubectl(srv, "diff", "--server-side", "-f", "-", input=changed, check=False)
    assert diff.returncode == 1, diff.stderr
    assert "-  replicas: 2" in diff.stdout and "+  replicas: 3" in diff.stdout
    same = kubectl(srv, "diff", "--server-side", "-f", "-", input=manifest, check=False)
    assert same.returncode == 0, same.stdout + same.stderr


def test_describe(srv, request):
    ns = _ns(request)
    kubectl(srv, "apply", "-f", "-", input=DEPLOYMENT.format(ns=ns))
    text = kubectl(srv, "describe", "deployment", "web", "-n", ns).stdout
    assert "Name:" in text and "web" in text and "Replicas:" in text and "busybox:1.36" in text
    assert "Selector:" in text and "app=web" in text


def _user_made(names: str) -> list[str]:
    """kubectl -o name output without the root-CA ConfigMap the cluster puts in every namespace."""
    return [name for name in names.split() if name != "configmap/kube-root-ca.crt"]


def test_delete_by_label_and_all(srv, request):
    ns = _ns(request)
    kubectl(srv, "create", "namespace", ns)
    for name, label in (("a", "x"), ("b", "x"), ("c", "y")):
        kubectl(srv, "create", "configmap", name, "-n", ns)
        kubectl(srv, "label", "configmap", name, "-n", ns, f"group={label}")
    out = kubectl(srv, "delete", "configmap", "-n", ns, "-l", "group=x").stdout
    assert 'configmap "a" deleted' in out and 'configmap "b" deleted' in out
    assert _user_made(kubectl(srv, "get", "cm", "-n", ns, "-o", "name").stdout) == ["configmap/c"]
    kubectl(srv, "delete", "configmap", "--all", "-n", ns)
    assert _user_made(kubectl(srv, "get", "cm", "-n", ns, "-o", "name").stdout) == []
    missing = kubectl(srv, "get", "configmap", "nope", "-n", ns, check=False)
    assert missing.returncode == 1 and 'configmaps "nope" not found' in missing.stderr


def test_explain(srv):
    out = kubectl(srv, "explain", "pods.spec.containers").stdout
    assert "KIND:" in out and "Pod" in out and "FIELDS:" in out and "image" in out


def test_invalid_object_is_rejected_with_causes(srv, request):
    ns = _ns(request)
    kubectl(srv, "create", "namespace", ns)
    bad = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: bad, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: one}}}}
  template:
    metadata: {{labels: {{app: two}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
"""
    result = kubectl(srv, "apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert "spec.template.metadata.labels" in result.stderr and "is invalid" in result.stderr


def test_watch_prints_changes(srv, request):
    ns = _ns(request)
    kubectl(srv, "create", "namespace", ns)
    kubectl(srv, "create", "configmap", "first", "-n", ns)
    watcher = subprocess.Popen(
        [kubectl_path(), "get", "configmaps", "-n", ns, "-w", "--request-timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl_env(srv),
    )
    try:
        time.sleep(1.5)
        kubectl(srv, "create", "configmap", "second", "-n", ns)
        time.sleep(1.5)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "DATA"]
    assert any(line.startswith("first") for line in lines)
    assert any(line.startswith("second") for line in lines)


def test_crd_and_custom_resources(srv, request):
    suffix = request.node.callspec.id
    crd = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets{suffix}.example.com}}
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets{suffix}
    singular: widget{suffix}
    kind: Widget{suffix.capitalize()}
    shortNames: [wg{suffix}]
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
              size: {{type: integer, minimum: 1}}
    additionalPrinterColumns:
    - {{name: Size, type: integer, jsonPath: .spec.size}}
"""
    kubectl(srv, "apply", "-f", "-", input=crd)
    kubectl(srv, "wait", "--for=condition=established", f"crd/widgets{suffix}.example.com", "--timeout=20s")
    widget = f"""apiVersion: example.com/v1
kind: Widget{suffix.capitalize()}
metadata: {{name: w1, namespace: default}}
spec: {{size: 3}}
"""
    deadline = time.monotonic() + 20
    while True:
        result = kubectl(srv, "apply", "-f", "-", input=widget, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert result.returncode == 0, result.stderr
    table = kubectl(srv, "get", f"wg{suffix}").stdout.splitlines()
    # With printer columns defined, upstream shows NAME plus exactly those (no implicit AGE).
    assert table[0].split() == ["NAME", "SIZE"] and table[1].split() == ["w1", "3"]
    bad = widget.replace("size: 3", "size: 0")
    rejected = kubectl(srv, "apply", "-f", "-", input=bad, check=False)
    assert rejected.returncode != 0 and "spec.size" in rejected.stderr
