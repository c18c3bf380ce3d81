from __future__ import annotations

import pytest

from kubeling.verify import parse

SS = """\
LISTEN 0      4096       127.0.0.1:10248      0.0.0.0:*
LISTEN 0      4096         0.0.0.0:6443       0.0.0.0:*
LISTEN 0      128             [::]:22            [::]:*
LISTEN 0      4096               *:10250            *:*
"""


def test_listening_ports() -> None:
    assert parse.listening_ports(SS) == {10248, 6443, 22, 10250}
    assert parse.listening_ports("") == set()


MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver, namespace: kube-system}
spec:
  hostNetwork: true
  containers: [{name: kube-apiserver, image: kubeling/kubeling:0.1.0}]
"""


def test_static_pod_from_manifest() -> None:
    assert parse.static_pod(MANIFEST) == parse.StaticPod("kube-apiserver", "kube-system", ("kube-apiserver",))


@pytest.mark.parametrize("text", ["[1, 2", "kind: Pod\n", "metadata: {name: x}\nspec: {}\n"])
def test_bad_manifest(text: str) -> None:
    with pytest.raises(ValueError, match="not a pod manifest"):
        parse.static_pod(text)


@pytest.mark.parametrize(
    ("ps", "missing"),
    [
        ("kube-apiserver-cp1 kube-apiserver\nkube-scheduler-cp1 kube-scheduler\n", []),
        ("kube-apiserver-cp-1.lab kube-apiserver\n", []),  # kubelet's node name differs from the inventory's
        ("kube-scheduler-cp1 kube-scheduler\n", ["kube-apiserver"]),
        ("kube-apiserver-cp1 sidecar\n", ["kube-apiserver"]),
        ("", ["kube-apiserver"]),
    ],
    ids=["running", "other-node-name", "other-pod", "other-container", "nothing"],
)
def test_missing_static_containers(ps: str, missing: list[str]) -> None:
    pod = parse.static_pod(MANIFEST)
    assert parse.missing_static_containers(pod, parse.running_containers(ps), "cp1") == missing


ETCDCTL_OK = """\
https://10.251.0.11:2379 is healthy: successfully committed proposal: took = 2.93ms
https://10.251.0.12:2379 is healthy: successfully committed proposal: took = 3.1ms
"""
ETCDCTL_SICK = """\
https://10.251.0.11:2379 is healthy: successfully committed proposal: took = 2.93ms
{"level":"warn","msg":"retrying of unary invoker failed"}
https://10.251.0.12:2379 is unhealthy: failed to commit proposal: context deadline exceeded
Error: unhealthy cluster
"""


def test_etcd_health() -> None:
    assert [h.healthy for h in parse.etcd_health(ETCDCTL_OK)] == [True, True]
    sick = parse.etcd_health(ETCDCTL_SICK)
    assert [(h.endpoint, h.healthy) for h in sick] == [
        ("https://10.251.0.11:2379", True),
        ("https://10.251.0.12:2379", False),
    ]
    assert sick[1].message == "failed to commit proposal: context deadline exceeded"
