"""Container environment resolution."""

from __future__ import annotations

import base64

import pytest

from kubeling.kubelet.envvars import EnvContext, EnvError, container_env, expand, expand_command, service_env
from tests.unit.kubelet.builders import make_pod

CONFIGMAPS = {("default", "cfg"): {"data": {"COLOR": "blue", "SIZE": "L"}}}
SECRETS = {("default", "sec"): {"data": {"PASSWORD": base64.b64encode(b"hunter2").decode()}}}


def ctx(**overrides) -> EnvContext:
    base = EnvContext(
        node_name="node-a",
        host_ip="192.0.2.1",
        pod_ips=["10.244.0.5"],
        configmaps=lambda ns, name: CONFIGMAPS.get((ns, name)),
        secrets=lambda ns, name: SECRETS.get((ns, name)),
        node_allocatable={"cpu": "2", "memory": "1Gi"},
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def env_of(container: dict, **spec) -> dict[str, str]:
    pod = make_pod(containers=[container], serviceAccountName="robot", **spec)
    pod["metadata"]["annotations"] = {"a": "1"}
    return dict(container_env(pod, container, ctx()))


def test_values_field_and_resource_refs() -> None:
    container = {
        "name": "c",
        "image": "busybox",
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
        "env": [
            {"name": "GREETING", "value": "hi"},
            {"name": "MSG", "value": "$(GREETING) there $$(GREETING) $(MISSING)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
            {"name": "ANN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['a']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MCPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "NOLIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage"}}},
            {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
        ],
    }
    env = env_of(container, enableServiceLinks=False)
    assert env == {
        "GREETING": "hi",
        "MSG": "hi there $(GREETING) $(MISSING)",
        "POD": "web",
        "NS": "default",
        "UID": "uid-web",
        "LABELS": 'app="web"',
        "ANN": "1",
        "NODE": "node-a",
        "SA": "robot",
        "HOST_IP": "192.0.2.1",
        "POD_IP": "10.244.0.5",
        "CPU": "1",
        "MCPU": "500",
        "MEM": "64",
        "NOLIMIT": "0",
        "REQ": str(64 * 1024 * 1024),
    }


def test_config_refs_env_from_and_precedence() -> None:
    container = {
        "name": "c",
        "image": "busybox",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}],
        "env": [
            {"name": "CM_SIZE", "value": "XL"},
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOR"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}},
            {
                "name": "OPTKEY",
                "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "x", "optional": True}},
            },
        ],
    }
    env = env_of(container, enableServiceLinks=False)
    assert env == {
        "CM_COLOR": "blue",
        "CM_SIZE": "XL",
        "PASSWORD": "hunter2",
        "COLOR": "blue",
        "PW": "hunter2",
    }


@pytest.mark.parametrize(
    "ref",
    [
        {"configMapKeyRef": {"name": "nope", "key": "x"}},
        {"configMapKeyRef": {"name": "cfg", "key": "x"}},
        {"secretKeyRef": {"name": "nope", "key": "x"}},
    ],
    ids=["missing-configmap", "missing-key", "missing-secret"],
)
def test_missing_required_refs_fail(ref: dict) -> None:
    with pytest.raises(EnvError):
        env_of({"name": "c", "image": "busybox", "env": [{"name": "X", "valueFrom": ref}]})


SERVICES = [
    {
        "metadata": {"name": "my-svc", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    },
    {
        "metadata": {"name": "headless", "namespace": "default"},
        "spec": {"clusterIP": "None", "ports": [{"port": 1}]},
    },
    {
        "metadata": {"name": "other", "namespace": "elsewhere"},
        "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 5}]},
    },
    {
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]},
    },
]


def test_service_links() -> None:
    env = service_env(SERVICES, "default", True)
    assert env["MY_SVC_SERVICE_HOST"] == "10.96.0.20"
    assert env["MY_SVC_SERVICE_PORT"] == "80"
    assert env["MY_SVC_SERVICE_PORT_HTTP"] == "80"
    assert env["MY_SVC_PORT"] == "tcp://10.96.0.20:80"
    assert env["MY_SVC_PORT_80_TCP"] == "tcp://10.96.0.20:80"
    assert env["MY_SVC_PORT_80_TCP_PROTO"] == "tcp"
    assert env["MY_SVC_PORT_80_TCP_PORT"] == "80"
    assert env["MY_SVC_PORT_80_TCP_ADDR"] == "10.96.0.20"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert not any(k.startswith(("HEADLESS", "OTHER")) for k in env)
    # Without links only the master service remains, also for pods in other namespaces.
    assert set(service_env(SERVICES, "elsewhere", False)) == {k for k in env if k.startswith("KUBERNETES")}


def test_expand() -> None:
    assert expand("$(A)-$(B)-$$-$(", {"A": "1"}) == "1-$(B)-$-$("
    assert expand_command(["echo", "$(A)"], [("A", "x")]) == ["echo", "x"]
