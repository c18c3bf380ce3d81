"""Node authorizer (own node, own pods and what they reference) and NodeRestriction admission."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.apiserver.authz.attributes import Attributes, Decision
from kubeling.apiserver.authz.node import NodeAuthorizer, node_restriction, pod_references

from .conftest import request, with_ids

NODES = ("system:nodes", "system:authenticated")
N1 = "system:node:n1"


def make_pod(name: str, node: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}], **spec},
    }


WEB = make_pod(
    "web",
    "n1",
    serviceAccountName="builder",
    imagePullSecrets=[{"name": "registry"}],
    containers=[
        {
            "name": "c",
            "image": "busybox",
            "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "password", "key": "b"}}},
            ],
            "envFrom": [{"configMapRef": {"name": "env-cm"}}],
        }
    ],
    initContainers=[{"name": "i", "image": "busybox", "envFrom": [{"secretRef": {"name": "init-secret"}}]}],
    volumes=[
        {"name": "s", "secret": {"secretName": "certs"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
        {
            "name": "token",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "t"}},
                    {"configMap": {"name": "kube-root-ca.crt"}},
                ]
            },
        },
    ],
)
OTHER = make_pod("db", "n2", volumes=[{"name": "s", "secret": {"secretName": "db-secret"}}])


class Pods:
    def __init__(self, *pods: dict[str, Any]) -> None:
        self.pods = pods

    def pods_on_node(self, node: str) -> list[dict[str, Any]]:
        return [p for p in self.pods if p["spec"]["nodeName"] == node]

    def claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        volumes = {("default", "data"): "pv-data", ("default", "elsewhere"): "pv-other"}
        volume = volumes.get((namespace, name))
        return {"metadata": {"name": name}, "spec": {"volumeName": volume}} if volume else None


AUTHORIZER = NodeAuthorizer(Pods(WEB, OTHER))
NO_RELATION = "no relationship found between node 'n1' and this object"


def node_request(verb: str, resource: str, namespace: str = "", **kw: Any) -> Attributes:
    return request(N1, verb, resource, namespace, groups=NODES, **kw)


def test_pod_references() -> None:
    assert pod_references(WEB) == {
        "secrets": {"registry", "password", "init-secret", "certs"},
        "configmaps": {"settings", "env-cm", "kube-root-ca.crt"},
        "persistentvolumeclaims": {"data", "web-scratch"},
        "serviceaccounts": {"builder"},
    }


AUTHORIZER_CASES = [
    # persistentvolumes: the volume a claim of a pod on the node is bound to
    pytest.param(node_request("get", "persistentvolumes", name="pv-data"), Decision(True), id="own-pv"),
    pytest.param(
        node_request("get", "persistentvolumes", name="pv-other"), Decision(False, NO_RELATION), id="other-pv"
    ),
    pytest.param(
        node_request("list", "persistentvolumes"),
        Decision(False, "can only get individual resources of this type"),
        id="list-pvs",
    ),
    # secrets / configmaps referenced by a pod on the node
    pytest.param(
        node_request("get", "secrets", "default", name="certs"), Decision(True), id="own-pod-secret"
    ),
    pytest.param(
        node_request("watch", "secrets", "default", name="password"), Decision(True), id="watch-secret"
    ),
    pytest.param(node_request("get", "secrets", "default", name="db-secret"), Decision(False, NO_RELATION)),
    pytest.param(
        node_request("get", "secrets", "other", name="certs"), Decision(False, NO_RELATION), id="ns"
    ),
    pytest.param(
        node_request("list", "secrets", "default"),
        Decision(False, "No Object name found"),
        id="list-secrets",
    ),
    pytest.param(
        node_request("create", "secrets", "default", name="certs"),
        Decision(False, "can only read resources of this type"),
        id="write-secret",
    ),
    pytest.param(node_request("get", "configmaps", "default", name="kube-root-ca.crt"), Decision(True)),
    pytest.param(
        node_request("get", "configmaps", "default", name="env-cm"), Decision(True), id="envfrom-cm"
    ),
    pytest.param(node_request("get", "configmaps", "default", name="nope"), Decision(False, NO_RELATION)),
    pytest.param(node_request("get", "persistentvolumeclaims", "default", name="data"), Decision(True)),
    pytest.param(
        node_request("get", "persistentvolumeclaims", "default", name="web-scratch"), Decision(True)
    ),
    pytest.param(
        node_request("patch", "persistentvolumeclaims/status", "default", name="data"), Decision(True)
    ),
    pytest.param(
        node_request("list", "persistentvolumeclaims", "default"),
        Decision(False, "can only get individual resources of this type"),
        id="list-pvcs",
    ),
    pytest.param(node_request("create", "serviceaccounts/token", "default", name="builder"), Decision(True)),
    pytest.param(
        node_request("create", "serviceaccounts/token", "default", name="default"),
        Decision(False, NO_RELATION),
    ),
    pytest.param(
        node_request("get", "serviceaccounts", "default", name="builder"),
        Decision(False, "can only create tokens for individual service accounts"),
        id="get-serviceaccount",
    ),
    # pods
    pytest.param(node_request("get", "pods", "default", name="web"), Decision(True), id="get-own-pod"),
    pytest.param(
        node_request("get", "pods", "default", name="db"),
        Decision(False, NO_RELATION),
        id="get-other-pod",
    ),
    pytest.param(
        node_request("update", "pods/status", "default", name="web"), Decision(True), id="own-pod-status"
    ),
    pytest.param(node_request("patch", "pods/status", "default", name="db"), Decision(False, NO_RELATION)),
    pytest.param(node_request("watch", "pods"), Decision(True), id="watch-pods"),
    pytest.param(node_request("create", "pods", "kube-system"), Decision(True), id="create-mirror-pod"),
    pytest.param(node_request("update", "pods", "default", name="web"), Decision(False), id="update-pod"),
    # nodes
    pytest.param(node_request("get", "nodes", name="n1"), Decision(True), id="get-own-node"),
    pytest.param(node_request("list", "nodes"), Decision(True), id="list-nodes"),
    pytest.param(node_request("create", "nodes"), Decision(True), id="register"),
    pytest.param(node_request("patch", "nodes/status", name="n1"), Decision(True), id="own-node-status"),
    pytest.param(node_request("update", "nodes", name="n1"), Decision(True), id="update-own-node"),
    pytest.param(node_request("update", "nodes", name="n2"), Decision(False), id="update-other-node"),
    pytest.param(node_request("patch", "nodes/status", name="n2"), Decision(False), id="other-node-status"),
    pytest.param(node_request("delete", "nodes", name="n1"), Decision(False), id="delete-own-node"),
    # leases
    pytest.param(
        node_request("update", "leases", "kube-node-lease", group="coordination.k8s.io", name="n1"),
        Decision(True),
        id="own-lease",
    ),
    pytest.param(
        node_request("create", "leases", "kube-node-lease", group="coordination.k8s.io"),
        Decision(True),
        id="create-lease",
    ),
    pytest.param(
        node_request("update", "leases", "kube-node-lease", group="coordination.k8s.io", name="n2"),
        Decision(False, "can only access node lease with the same name as the requesting node"),
        id="other-lease",
    ),
    pytest.param(
        node_request("get", "leases", "kube-system", group="coordination.k8s.io", name="n1"),
        Decision(False, 'can only access leases in the "kube-node-lease" system namespace'),
        id="lease-namespace",
    ),
    pytest.param(
        node_request("list", "leases", "kube-node-lease", group="coordination.k8s.io"),
        Decision(False, "can only get, create, update, patch, or delete a node lease"),
        id="list-leases",
    ),
    # the fixed list
    pytest.param(node_request("watch", "services"), Decision(True), id="watch-services"),
    pytest.param(
        node_request("get", "endpoints", "default", name="kubernetes"), Decision(True), id="endpoints"
    ),
    pytest.param(node_request("create", "events", "default"), Decision(True), id="events"),
    pytest.param(node_request("patch", "events", "default", group="events.k8s.io", name="e"), Decision(True)),
    pytest.param(node_request("create", "tokenreviews", group="authentication.k8s.io"), Decision(True)),
    pytest.param(
        node_request("create", "subjectaccessreviews", group="authorization.k8s.io"), Decision(True)
    ),
    pytest.param(
        node_request("create", "certificatesigningrequests", group="certificates.k8s.io"), Decision(True)
    ),
    pytest.param(
        node_request("get", "csinodes", group="storage.k8s.io", name="n1"), Decision(True), id="csinode"
    ),
    pytest.param(
        node_request("delete", "services", "default", name="s"), Decision(False), id="delete-service"
    ),
    pytest.param(
        node_request("list", "deployments", "default", group="apps"), Decision(False), id="deployments"
    ),
    pytest.param(request(N1, "get", path="/healthz", groups=NODES), Decision(False), id="non-resource"),
    # who is a node
    pytest.param(request(N1, "get", "nodes", name="n1", groups=("system:authenticated",)), Decision(False)),
    pytest.param(
        request("bob", "get", "nodes", name="n1", groups=NODES), Decision(False), id="not-node-name"
    ),
    pytest.param(
        request("system:node:", "get", "nodes", name="n1", groups=NODES),
        Decision(False, 'unknown node for user "system:node:"'),
        id="empty-node-name",
    ),
]


@pytest.mark.parametrize(("attrs", "expected"), with_ids(AUTHORIZER_CASES))
def test_node_authorizer(attrs: Attributes, expected: Decision) -> None:
    assert AUTHORIZER.authorize(attrs) == expected


# -- NodeRestriction -----------------------------------------------------------------


def mirror_pod(node: str = "n1", **spec: Any) -> dict[str, Any]:
    pod = make_pod("static-web-n1", node, "kube-system", **spec)
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    pod["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "Node", "name": node, "uid": "u", "controller": True}
    ]
    return pod


def make_node(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def lease(namespace: str, name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}}


def _without_owner(pod: dict[str, Any]) -> dict[str, Any]:
    pod["metadata"].pop("ownerReferences")
    return pod


def _not_mirror(pod: dict[str, Any]) -> dict[str, Any]:
    pod["metadata"].pop("annotations")
    return pod


@pytest.mark.parametrize(
    ("user", "verb", "resource", "obj", "old", "expected"),
    [
        pytest.param("bob", "update", "nodes", make_node("n2"), make_node("n2"), None, id="not-a-node"),
        pytest.param(N1, "update", "nodes", make_node("n1"), make_node("n1"), None, id="own-node"),
        pytest.param(
            N1, "update", "nodes/status", make_node("n1"), make_node("n1"), None, id="own-node-status"
        ),
        pytest.param(
            N1,
            "patch",
            "nodes",
            make_node("n2"),
            make_node("n2"),
            'node "n1" is not allowed to modify node "n2"',
        ),
        pytest.param(
            N1, "create", "nodes", make_node("n2"), None, 'node "n1" is not allowed to modify node "n2"'
        ),
        pytest.param(
            N1,
            "create",
            "nodes",
            make_node("n1", **{"kubernetes.io/hostname": "n1", "node-restriction.kubernetes.io/pool": "a"}),
            None,
            'node "n1" is not allowed to set the following labels: node-restriction.kubernetes.io/pool',
            id="restricted-label-create",
        ),
        pytest.param(
            N1,
            "update",
            "nodes",
            make_node("n1", **{"node-role.kubernetes.io/control-plane": ""}),
            make_node("n1"),
            "is not allowed to modify labels: node-role.kubernetes.io/control-plane",
            id="restricted-label-update",
        ),
        pytest.param(
            N1,
            "update",
            "nodes",
            make_node("n1", **{"node.kubernetes.io/exclude-from-external-load-balancers": "", "team": "a"}),
            make_node("n1"),
            None,
            id="allowed-labels",
        ),
        pytest.param(N1, "create", "pods", mirror_pod(), None, None, id="mirror-pod"),
        pytest.param(
            N1,
            "create",
            "pods",
            _not_mirror(mirror_pod()),
            None,
            'pod does not have "kubernetes.io/config.mirror" annotation, '
            'node "n1" can only create mirror pods',
            id="not-mirror",
        ),
        pytest.param(
            N1,
            "create",
            "pods",
            mirror_pod("n2"),
            None,
            'node "n1" can only create pods with spec.nodeName set to itself',
            id="mirror-for-other-node",
        ),
        pytest.param(
            N1,
            "create",
            "pods",
            _without_owner(mirror_pod()),
            None,
            'node "n1" can only create pods with an owner reference set to itself',
            id="no-owner",
        ),
        pytest.param(
            N1,
            "create",
            "pods",
            mirror_pod(serviceAccountName="default"),
            None,
            'node "n1" can not create pods that reference a service account',
            id="service-account",
        ),
        pytest.param(
            N1,
            "create",
            "pods",
            mirror_pod(volumes=[{"name": "s", "secret": {"secretName": "x"}}]),
            None,
            'node "n1" can not create pods that reference secrets',
            id="secret",
        ),
        pytest.param(N1, "delete", "pods", None, mirror_pod(), None, id="delete-own-pod"),
        pytest.param(
            N1,
            "delete",
            "pods",
            None,
            OTHER,
            'node "n1" can only delete pods with spec.nodeName set to itself',
        ),
        pytest.param(
            N1,
            "update",
            "pods",
            WEB,
            WEB,
            'unexpected operation "UPDATE", node "n1" can only create and delete mirror pods',
            id="update-pod",
        ),
        pytest.param(N1, "patch", "pods/status", WEB, WEB, None, id="own-pod-status"),
        pytest.param(
            N1,
            "update",
            "pods/status",
            OTHER,
            OTHER,
            'node "n1" can only update pod status for pods with spec.nodeName set to itself',
            id="other-pod-status",
        ),
        pytest.param(
            N1,
            "create",
            "pods/eviction",
            {},
            OTHER,
            'node "n1" can only evict pods with spec.nodeName set to itself',
        ),
        pytest.param(N1, "create", "leases", lease("kube-node-lease", "n1"), None, None, id="own-lease"),
        pytest.param(
            N1,
            "create",
            "leases",
            lease("kube-node-lease", "n2"),
            None,
            "can only access node lease with the same name as the requesting node",
            id="other-lease",
        ),
        pytest.param(N1, "create", "configmaps", {}, None, None, id="other-resources-pass"),
    ],
)
def test_node_restriction(
    user: str,
    verb: str,
    resource: str,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None,
    expected: str | None,
) -> None:
    groups = NODES if user.startswith("system:node:") else ("system:authenticated",)
    assert node_restriction(user, groups, verb, resource, obj, old) == expected
