"""spec.schedulingGates through the real API: gates may only be removed, and hold binding back."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


@pytest.fixture
def core(server: KubelingServer) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(server.kubeconfig)))


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    name = f"gates-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _pod(name: str, gates: list[str], node: str | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "c", "image": "busybox:1.36"}],
            "schedulingGates": [{"name": g} for g in gates],
            "nodeName": node,
        },
    }


def _refusal(call) -> dict:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 422
    return json.loads(info.value.body)


def test_gates_can_be_removed_but_not_added(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, _pod("gated", ["example.com/a", "example.com/b"]))

    added = [{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "example.com/c"}}]
    body = _refusal(lambda: core.patch_namespaced_pod("gated", namespace, added))
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/c'",
            "field": "spec.schedulingGates[2].name",
        }
    ]

    one_removed = [{"op": "remove", "path": "/spec/schedulingGates/0"}]
    pod = core.patch_namespaced_pod("gated", namespace, one_removed)
    assert [g.name for g in pod.spec.scheduling_gates] == ["example.com/b"]

    all_removed = [{"op": "remove", "path": "/spec/schedulingGates"}]
    pod = core.patch_namespaced_pod("gated", namespace, all_removed)
    assert not pod.spec.scheduling_gates

    # Once released, a pod can't be gated again.
    body = _refusal(
        lambda: core.patch_namespaced_pod("gated", namespace, {"spec": {"schedulingGates": [{"name": "x"}]}})
    )
    assert body["details"]["causes"][0]["field"] == "spec.schedulingGates[0].name"


def test_a_gated_pod_cannot_be_bound(core: client.CoreV1Api, namespace: str) -> None:
    body = _refusal(lambda: core.create_namespaced_pod(namespace, _pod("bound", ["g"], node="n1")))
    assert body["details"]["causes"][0] == {
        "reason": "FieldValueForbidden",
        "message": "Forbidden: cannot be set until all schedulingGates have been cleared",
        "field": "spec.nodeName",
    }

    core.create_namespaced_pod(namespace, _pod("held", ["g"]))
    binding = client.V1Binding(
        metadata=client.V1ObjectMeta(name="held"), target=client.V1ObjectReference(kind="Node", name="n1")
    )
    _refusal(lambda: core.create_namespaced_pod_binding("held", namespace, binding, _preload_content=False))
    assert not core.read_namespaced_pod("held", namespace).spec.node_name
