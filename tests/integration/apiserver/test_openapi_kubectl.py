"""Real kubectl 1.37 against the discovery and OpenAPI v3 documents alone.

A tiny aiohttp server on loopback serves discovery (legacy or aggregated, as
asked) and ``/openapi/v3`` from :mod:`kubeling.apiserver.discovery` and
:mod:`kubeling.apiserver.openapi`, plus just enough of a Deployment endpoint
for ``kubectl apply`` to run.  It records every request, so the tests can show
that kubectl took what it needed from our v3 documents: it never asks for
``/openapi/v2`` (its fallback), it sends ``fieldValidation`` because the PATCH
operation declares it (kubectl then leaves unknown-field checks to the
server, even with ``--dry-run=client``), and it builds its strategic merge
patch from our merge keys.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from kubeling.api import patch, schemas
from kubeling.api.resources import Registry, Resource
from kubeling.apiserver import discovery
from kubeling.apiserver.openapi import OpenAPIPublisher
from tests.fixtures.server import kubectl_path

pytestmark = pytest.mark.integration

_AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


@dataclass
class FakeAPIServer:
    """Discovery + OpenAPI from the real builders; Deployments kept in a dict."""

    aggregated: bool = True
    registry: Registry = field(default_factory=Registry)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.openapi = OpenAPIPublisher(self.registry)

    def paths(self, prefix: str) -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw:
            body = yaml.safe_load(raw) if "yaml" in (request.content_type or "") else json.loads(raw)
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), request.content_type, body)
        )
        path = request.path.rstrip("/") or "/"
        segments = path.strip("/").split("/")
        if path in ("/api", "/apis"):
            if self.aggregated and "apidiscovery.k8s.io" in request.headers.get("Accept", ""):
                document = discovery.aggregated(self.registry, "" if path == "/api" else "apis")
                return web.Response(body=json.dumps(document), headers={"Content-Type": _AGGREGATED})
            legacy = discovery.api_versions() if path == "/api" else discovery.api_group_list(self.registry)
            return web.json_response(legacy)
        if segments[0] == "api" and len(segments) == 2:
            return web.json_response(discovery.api_resource_list(self.registry, "", segments[1]))
        if segments[0] == "apis" and len(segments) == 2:
            return web.json_response(discovery.api_group(self.registry, segments[1]))
        if segments[0] == "apis" and len(segments) == 3:
            return web.json_response(discovery.api_resource_list(self.registry, segments[1], segments[2]))
        if path == "/openapi/v3":
            return web.json_response(self.openapi.index())
        if path.startswith("/openapi/v3/"):
            document = self.openapi.document(path[len("/openapi/v3/") :])
            if document is not None:
                return web.Response(body=document, content_type="application/json")
        if path == "/version":
            return web.json_response({"major": "1", "minor": "37", "gitVersion": "v1.37.0"})
        if path.startswith(_DEPLOYMENTS):
            return self._deployment(request.method, path, body)
        return _status(404, "NotFound", "the server could not find the requested resource")

    def _deployment(self, method: str, path: str, body: Any) -> web.Response:
        name = path[len(_DEPLOYMENTS) + 1 :]
        if method == "POST":
            return web.json_response(body, status=201)
        if name not in self.deployments:
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        if method == "PATCH":
            schema = schemas.by_name("io.k8s.api.apps.v1.Deployment")
            self.deployments[name] = patch.strategic_merge_patch(self.deployments[name], body, schema)
        return web.json_response(self.deployments[name])


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip
    return web.json_response(body, status=code)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeAPIServer]:
    server = FakeAPIServer(aggregated=getattr(request, "param", True))
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        host, port = runner.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="fake-apiserver", daemon=True)
    thread.start()
    assert started.wait(10), "the fake apiserver did not start"
    yield server
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def run_kubectl(
    fake: FakeAPIServer, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    # A fresh HOME per test: kubectl caches discovery and OpenAPI under ~/.kube/cache.
    env = {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [kubectl_path(), "--server", fake.url, *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""


@pytest.mark.parametrize(
    "fake", [True, False], ids=["aggregated-discovery", "legacy-discovery"], indirect=True
)
def test_explain_lists_container_fields(fake: FakeAPIServer, tmp_path: Path) -> None:
    result = run_kubectl(fake, tmp_path, "explain", "pods.spec.containers")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "KIND:       Pod" in out and "VERSION:    v1" in out
    assert "FIELD: containers <[]Container>" in out
    assert "FIELDS:" in out
    assert "image\t<string>" in out
    assert "name\t<string> -required-" in out
    assert "env\t<[]EnvVar>" in out
    assert "resources\t<ResourceRequirements>" in out
    assert fake.paths("/openapi/v3/api/v1") and not fake.paths("/openapi/v2")


def test_explain_deployment_strategy(fake: FakeAPIServer, tmp_path: Path) -> None:
    result = run_kubectl(fake, tmp_path, "explain", "deployment.spec.strategy")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "GROUP:      apps" in out and "KIND:       Deployment" in out
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "rollingUpdate\t<RollingUpdateDeployment>" in out
    assert "type\t<string>" in out


def test_explain_int_or_string_and_quantity_fields(fake: FakeAPIServer, tmp_path: Path) -> None:
    surge = run_kubectl(fake, tmp_path, "explain", "deployment.spec.strategy.rollingUpdate")
    assert surge.returncode == 0, surge.stderr
    assert "maxSurge\t<IntOrString>" in surge.stdout
    limits = run_kubectl(fake, tmp_path, "explain", "pod.spec.containers.resources")
    assert limits.returncode == 0, limits.stderr
    assert "limits\t<map[string]Quantity>" in limits.stdout


def test_explain_unknown_field_is_reported(fake: FakeAPIServer, tmp_path: Path) -> None:
    result = run_kubectl(fake, tmp_path, "explain", "deployment.spec.bogus")
    assert result.returncode != 0
    assert 'field "bogus" does not exist' in result.stderr


def test_apply_dry_run_client_accepts_a_valid_deployment(fake: FakeAPIServer, tmp_path: Path) -> None:
    result = run_kubectl(
        fake, tmp_path, "apply", "--dry-run=client", "--validate=strict", "-f", "-", stdin=DEPLOYMENT
    )
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/web created (dry run)" in result.stdout
    # kubectl checked our v3 document for the fieldValidation parameter and needed no v2.
    assert fake.paths("/openapi/v3/apis/apps/v1")
    assert not fake.paths("/openapi/v2")


def test_strict_validation_is_left_to_the_server(fake: FakeAPIServer, tmp_path: Path) -> None:
    """Our PATCH operations declare fieldValidation, so kubectl sends Strict rather than checking itself."""
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  bogusField: 1")
    result = run_kubectl(
        fake, tmp_path, "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=bad
    )
    assert result.returncode == 0, result.stderr
    creates = [r for r in fake.requests if r.method == "POST"]
    assert len(creates) == 1
    assert creates[0].query.get("fieldValidation") == "Strict"
    assert creates[0].query.get("dryRun") == "All"
    assert creates[0].body["spec"]["bogusField"] == 1
    assert not fake.paths("/openapi/v2")


def test_apply_to_existing_object_sends_strategic_patch_from_openapi(
    fake: FakeAPIServer, tmp_path: Path
) -> None:
    previous = yaml.safe_load(DEPLOYMENT)
    live = json.loads(json.dumps(previous))
    live["metadata"].update(uid="u1", resourceVersion="5", annotations={
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(previous)})  # fmt: skip
    # What the server defaults: a RollingUpdate strategy the user never wrote.
    live["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    fake.deployments["web"] = live
    changed = DEPLOYMENT.replace(
        "image: nginx:1.27", "image: nginx:1.28\n      - name: sidecar\n        image: busybox"
    )
    changed = changed.replace("  replicas: 2\n", "  replicas: 2\n  strategy: {type: Recreate}\n")
    result = run_kubectl(fake, tmp_path, "apply", "-f", "-", stdin=changed)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/web configured" in result.stdout
    assert "openapi" not in result.stderr  # no "error calculating patch from openapi v3 spec" fallback
    assert not fake.paths("/openapi/v2")
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert len(patches) == 1
    assert patches[0].content_type == "application/strategic-merge-patch+json"
    sent = patches[0].body["spec"]
    assert sent["template"]["spec"]["$setElementOrder/containers"] == [{"name": "web"}, {"name": "sidecar"}]
    assert sent["strategy"]["$retainKeys"] == ["type"]
    # And our strategic merge patch turns kubectl's patch into what the user asked for.
    result_spec = fake.deployments["web"]["spec"]
    assert result_spec["strategy"] == {"type": "Recreate"}
    assert result_spec["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.28"},
        {"name": "sidecar", "image": "busybox"},
    ]


def test_explain_custom_resource(fake: FakeAPIServer, tmp_path: Path) -> None:
    crd = {
        "metadata": {"name": "crontabs.stable.example.com", "generation": 1},
        "spec": {"versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object",
            "description": "A CronTab runs a command on a schedule.",
            "properties": {"spec": {"type": "object", "required": ["cronSpec"], "properties": {
                "cronSpec": {"type": "string", "description": "When to run, in cron syntax."},
                "replicas": {"type": "integer"},
            }}},
        }}}]},
    }  # fmt: skip
    group = "stable.example.com"
    fake.registry.add(
        Resource(group=group, version="v1", kind="CronTab", plural="crontabs", singular="crontab",
                 namespaced=True, short_names=("ct",), crd=crd)
    )  # fmt: skip
    result = run_kubectl(fake, tmp_path, "explain", "ct.spec")
    assert result.returncode == 0, result.stderr
    assert "GROUP:      stable.example.com" in result.stdout and "KIND:       CronTab" in result.stdout
    assert "cronSpec\t<string> -required-" in result.stdout
    assert "When to run, in cron syntax." in result.stdout
    meta = run_kubectl(fake, tmp_path, "explain", "crontabs.metadata.labels")
    assert meta.returncode == 0, meta.stderr
    assert "FIELD: labels <map[string]string>" in meta.stdout
