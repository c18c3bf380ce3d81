"""The official ``kubernetes`` Python client against a real kubeling server."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.fixtures.server import KubelingServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "etcd"])
def api(request: pytest.FixtureRequest) -> client.ApiClient:
    srv: KubelingServer = request.getfixturevalue(
        "server" if request.param == "sqlite" else "etcd_backed_server"
    )
    return config.new_client_from_config(config_file=str(srv.kubeconfig))


@pytest.fixture
def namespace(api: client.ApiClient, request: pytest.FixtureRequest) -> str:
    name = (
        f"py-{request.node.name.split('[')[0][5:25].replace('_', '-').strip('-')}-{request.node.callspec.id}"
    )
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _pod(name: str, labels: dict[str, str] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        # A scheduler no one runs: the cluster's scheduler leaves the pod alone, so the
        # test's read-modify-write is not raced by a PodScheduled status update.
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", image="busybox:1.36")], scheduler_name="unscheduled"
        ),
    )


def test_pod_crud_and_defaults(api, namespace):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod(namespace, _pod("p1", {"app": "a"}))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert created.spec.restart_policy == "Always" and created.spec.dns_policy == "ClusterFirst"
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    fetched = core.read_namespaced_pod("p1", namespace)
    assert fetched.metadata.resource_version == created.metadata.resource_version
    fetched.metadata.labels["extra"] = "yes"
    updated = core.replace_namespaced_pod("p1", namespace, fetched)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_pod("p1", namespace)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("p1", namespace)
    assert info.value.status == 404


def test_stale_update_conflicts(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"a": "1"})
    )
    first = core.read_namespaced_config_map("cm", namespace)
    second = core.read_namespaced_config_map("cm", namespace)
    first.data["a"] = "2"
    core.replace_namespaced_config_map("cm", namespace, first)
    second.data["a"] = "3"
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("cm", namespace, second)
    assert info.value.status == 409 and '"reason":"Conflict"' in info.value.body.replace(" ", "")


def test_invalid_object_gets_422_with_causes(api, namespace):
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="bad"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "x"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "y"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment(namespace, body)
    assert info.value.status == 422
    import json

    status = json.loads(info.value.body)
    assert status["reason"] == "Invalid"
    assert any(c["field"] == "spec.template.metadata.labels" for c in status["details"]["causes"])


def test_list_with_selectors_and_pagination(api, namespace):
    core = client.CoreV1Api(api)
    for n in range(7):
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(
                    name=f"s{n}", labels={"parity": "even" if n % 2 == 0 else "odd"}
                ),
                string_data={"k": str(n)},
            ),
        )
    even = core.list_namespaced_secret(namespace, label_selector="parity=even")
    assert sorted(s.metadata.name for s in even.items) == ["s0", "s2", "s4", "s6"]
    assert even.items[0].data["k"]  # stringData became base64 data
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_secret(namespace, limit=3, _continue=token)
        names += [s.metadata.name for s in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count is not None
    assert pages == 3 and names == [f"s{n}" for n in range(7)]
    by_name = core.list_namespaced_secret(namespace, field_selector="metadata.name=s3")
    assert [s.metadata.name for s in by_name.items] == ["s3"]


def test_watch_with_resume(api, namespace):
    core = client.CoreV1Api(api)
    listed = core.list_namespaced_config_map(namespace)
    start_rv = listed.metadata.resource_version

    def writer() -> None:
        time.sleep(0.5)
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1"))
        )
        core.patch_namespaced_config_map("w1", namespace, {"data": {"x": "1"}})
        core.delete_namespaced_config_map("w1", namespace)

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    # Only w1: the root-CA ConfigMap the cluster adds to new namespaces may appear meanwhile.
    for event in stream.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=start_rv,
        timeout_seconds=10,
        field_selector="metadata.name=w1",
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    thread.join()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    # Resuming from the first event's version replays exactly what came after it.
    later = core.list_namespaced_config_map(namespace, field_selector="metadata.name=w1")
    assert later.items == []


def test_deployment_and_scale(api, namespace):
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment(namespace, body)
    assert created.spec.strategy.type == "RollingUpdate" and created.spec.revision_history_limit == 10
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4


def test_custom_resource_crud(api, namespace, request):
    ext = client.ApiextensionsV1Api(api)
    suffix = request.node.callspec.id
    plural = f"gadgets{suffix}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": f"gadget{suffix}",
                "kind": f"Gadget{suffix.capitalize()}",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"color": {"type": "string"}}}
                            },
                        }
                    },
                }
            ],
        },
    }
    ext.create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "example.org/v1",
        "kind": f"Gadget{suffix.capitalize()}",
        "metadata": {"name": "g1"},
        "spec": {"color": "red"},
    }
    deadline = time.monotonic() + 15
    while True:
        try:
            custom.create_namespaced_custom_object("example.org", "v1", namespace, plural, body)
            break
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    got = custom.get_namespaced_custom_object("example.org", "v1", namespace, plural, "g1")
    assert got["spec"]["color"] == "red"
    got["spec"]["color"] = "blue"
    custom.replace_namespaced_custom_object("example.org", "v1", namespace, plural, "g1", got)
    listed = custom.list_namespaced_custom_object("example.org", "v1", namespace, plural)
    assert [i["spec"]["color"] for i in listed["items"]] == ["blue"]
    stale = dict(got)
    with pytest.raises(ApiException) as info:
        custom.replace_namespaced_custom_object("example.org", "v1", namespace, plural, "g1", stale)
    assert info.value.status == 409
    custom.delete_namespaced_custom_object("example.org", "v1", namespace, plural, "g1")
    assert custom.list_namespaced_custom_object("example.org", "v1", namespace, plural)["items"] == []
