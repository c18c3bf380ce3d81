"""API semantics over raw HTTP: error codes, validation modes, allocation, deletion."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


def _post(srv: KubelingServer, path: str, obj: object, query: str = "") -> tuple[int, dict]:
    status, body = srv.request("POST", path + query, json.dumps(obj).encode(), JSON)
    return status, json.loads(body)


def _namespace(srv: KubelingServer, name: str) -> str:
    status, _ = _post(srv, "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status in (201, 409)
    return name


def test_malformed_and_oversized_bodies(server):
    ns = _namespace(server, "sem-bodies")
    status, body = server.request("POST", f"/api/v1/namespaces/{ns}/configmaps", b"{nope", JSON)
    assert status == 400 and json.loads(body)["reason"] == "BadRequest"
    huge = json.dumps({"metadata": {"name": "big"}, "data": {"x": "a" * (3 * 1024 * 1024 + 10)}}).encode()
    status, body = server.request("POST", f"/api/v1/namespaces/{ns}/configmaps", huge, JSON)
    assert status == 413 and json.loads(body)["reason"] == "RequestEntityTooLarge"
    status, _ = server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/big")
    assert status == 404


def test_field_validation_modes(server):
    ns = _namespace(server, "sem-fields")
    obj = {"metadata": {"name": "cm"}, "data": {"a": "1"}, "bogus": True}
    status, body = _post(server, f"/api/v1/namespaces/{ns}/configmaps", obj, "?fieldValidation=Strict")
    assert status == 400 and body["message"] == 'strict decoding error: unknown field "bogus"'
    status, body = server.request(
        "POST", f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Ignore", json.dumps(obj).encode(), JSON
    )
    assert status == 201 and "bogus" not in json.loads(body)
    obj["metadata"]["name"] = "cm2"
    status, body = server.request(
        "POST", f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Warn", json.dumps(obj).encode(), JSON
    )
    assert status == 201 and "bogus" not in json.loads(body)
    stored = json.loads(server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/cm2")[1])
    assert "bogus" not in stored


def test_namespace_lifecycle(server):
    status, body = _post(server, "/api/v1/namespaces/sem-missing/configmaps", {"metadata": {"name": "x"}})
    assert status == 404 and body["details"]["kind"] == "namespaces"
    ns = _namespace(server, "sem-terminating")
    status, raw = server.request("DELETE", f"/api/v1/namespaces/{ns}")
    assert status == 200 and json.loads(raw)["status"]["phase"] == "Terminating"
    status, body = _post(server, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x"}})
    assert status == 403 and "being terminated" in body["message"]


def test_concurrent_services_get_distinct_cluster_ips(etcd_backed_server):
    srv = etcd_backed_server
    ns = _namespace(srv, "sem-ips")

    def create(n: int) -> tuple[int, dict]:
        svc = {"metadata": {"name": f"s{n}"}, "spec": {"ports": [{"port": 80}], "type": "NodePort"}}
        return _post(srv, f"/api/v1/namespaces/{ns}/services", svc)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(24)))
    assert [status for status, _ in results] == [201] * 24
    ips = [body["spec"]["clusterIP"] for _, body in results]
    ports = [body["spec"]["ports"][0]["nodePort"] for _, body in results]
    assert len(set(ips)) == 24 and all(ip.startswith("10.") for ip in ips)
    assert len(set(ports)) == 24 and all(30000 <= p <= 32767 for p in ports)
    taken = {"metadata": {"name": "dup"}, "spec": {"clusterIP": ips[0], "ports": [{"port": 80}]}}
    status, body = _post(srv, f"/api/v1/namespaces/{ns}/services", taken)
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.clusterIPs"
    # Deleting a Service frees its IP for a new one that asks for it.
    assert srv.request("DELETE", f"/api/v1/namespaces/{ns}/services/s0")[0] == 200
    status, body = _post(srv, f"/api/v1/namespaces/{ns}/services", taken)
    assert status == 201 and body["spec"]["clusterIP"] == ips[0]


def test_dry_run_and_generate_name(server):
    ns = _namespace(server, "sem-dry")
    status, body = _post(
        server, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "d"}}, "?dryRun=All"
    )
    assert status == 201 and body["metadata"]["uid"]
    assert server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/d")[0] == 404
    status, body = _post(
        server, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"generateName": "gen-"}}
    )
    name = body["metadata"]["name"]
    assert status == 201 and name.startswith("gen-") and len(name) == len("gen-") + 5


def test_finalizers_hold_deletion(server):
    ns = _namespace(server, "sem-final")
    obj = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    assert _post(server, f"/api/v1/namespaces/{ns}/configmaps", obj)[0] == 201
    status, raw = server.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/held")
    assert status == 200 and json.loads(raw)["metadata"]["deletionTimestamp"]
    status, raw = server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/held")
    assert status == 200
    patch = json.dumps({"metadata": {"finalizers": None}}).encode()
    status, _ = server.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/held",
        patch,
        {"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200
    assert server.request("GET", f"/api/v1/namespaces/{ns}/configmaps/held")[0] == 404


def test_status_subresource_split(bare_server):
    server = bare_server  # no deployment controller writing status meanwhile
    ns = _namespace(server, "sem-status")
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
        "status": {"replicas": 9},
    }
    status, created = _post(server, f"/apis/apps/v1/namespaces/{ns}/deployments", deploy)
    assert status == 201 and "replicas" not in created.get("status", {})
    created["status"] = {"replicas": 3, "observedGeneration": 1}
    created["spec"]["replicas"] = 7
    status, raw = server.request(
        "PUT", f"/apis/apps/v1/namespaces/{ns}/deployments/d/status", json.dumps(created).encode(), JSON
    )
    updated = json.loads(raw)
    assert status == 200 and updated["status"]["replicas"] == 3 and updated["spec"]["replicas"] == 1
    assert updated["metadata"]["generation"] == 1


def test_hpa_served_in_v1_and_v2_from_one_storage(bare_server):
    # No HPA controller here: its status writes would make these read-modify-write PUTs conflict (409).
    server = bare_server
    ns = _namespace(server, "sem-hpa")
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 70,
        },
    }
    status, created = _post(server, f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers", v1)
    assert status == 201 and created["apiVersion"] == "autoscaling/v1"
    assert created["spec"]["targetCPUUtilizationPercentage"] == 70
    as_v2 = json.loads(
        server.request("GET", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web")[1]
    )
    assert as_v2["apiVersion"] == "autoscaling/v2"
    assert as_v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    # A metric only v2 can express survives an update made through v1.
    as_v2["spec"]["metrics"].append(
        {
            "type": "Resource",
            "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
        }
    )
    status, _ = server.request(
        "PUT",
        f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web",
        json.dumps(as_v2).encode(),
        JSON,
    )
    assert status == 200
    url_v1 = f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers"
    seen_v1 = json.loads(server.request("GET", f"{url_v1}/web")[1])
    seen_v1["spec"]["maxReplicas"] = 6
    status, _ = server.request("PUT", f"{url_v1}/web", json.dumps(seen_v1).encode(), JSON)
    assert status == 200
    final = json.loads(
        server.request("GET", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web")[1]
    )
    assert final["spec"]["maxReplicas"] == 6
    assert [m["resource"]["name"] for m in final["spec"]["metrics"]] == ["cpu", "memory"]
    assert "annotations" not in final["metadata"]
    listed = json.loads(server.request("GET", url_v1)[1])
    assert (
        listed["items"][0]["apiVersion"] == "autoscaling/v1"
        and listed["kind"] == "HorizontalPodAutoscalerList"
    )
    watched = json.loads(
        server.request("GET", f"{url_v1}?watch=true&resourceVersion=0&timeoutSeconds=1")[1].splitlines()[0]
    )
    assert watched["type"] == "ADDED" and watched["object"]["apiVersion"] == "autoscaling/v1"


def test_events_written_in_either_api_are_seen_in_both(server):
    ns = _namespace(server, "sem-events")
    core_event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
        "reason": "Pulled",
        "message": "pulled it",
        "type": "Normal",
    }
    assert _post(server, f"/api/v1/namespaces/{ns}/events", core_event)[0] == 201
    new_event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e2"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1",
        "action": "Scheduling",
        "reason": "Scheduled",
        "note": "placed",
        "type": "Normal",
        "regarding": {"kind": "Pod", "name": "p", "namespace": ns},
    }
    status, body = _post(server, f"/apis/events.k8s.io/v1/namespaces/{ns}/events", new_event)
    assert status == 201, body
    as_new = json.loads(server.request("GET", f"/apis/events.k8s.io/v1/namespaces/{ns}/events")[1])
    assert {e["metadata"]["name"]: e.get("note") for e in as_new["items"]} == {
        "e1": "pulled it",
        "e2": "placed",
    }
    as_core = json.loads(server.request("GET", f"/api/v1/namespaces/{ns}/events")[1])
    assert {e["metadata"]["name"]: e.get("message") for e in as_core["items"]} == {
        "e1": "pulled it",
        "e2": "placed",
    }


@pytest.mark.parametrize(
    ("path", "kind", "api_version"),
    [
        ("/apis/batch/v1/namespaces/{ns}/jobs", "Job", "batch/v1"),
        ("/api/v1/namespaces/{ns}/services", "Service", "v1"),
        ("/apis/apps/v1/namespaces/{ns}/deployments", "Deployment", "apps/v1"),
    ],
)
@pytest.mark.parametrize("spec", [None, "text", []])
def test_a_null_or_mistyped_spec_is_a_client_error(bare_server, path, kind, api_version, spec):
    ns = _namespace(bare_server, "sem-null-spec")
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "a"}, "spec": spec}
    status, answer = _post(bare_server, path.format(ns=ns), body)
    assert status in (400, 422), answer
    assert answer["kind"] == "Status"
