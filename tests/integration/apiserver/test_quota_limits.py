"""ResourceQuota and LimitRange on a small scenario, driven by real kubectl."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.server import kubectl

pytestmark = pytest.mark.integration

SETUP = """\
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: quota-demo}
spec:
  limits:
  - type: Container
    defaultRequest: {cpu: 100m, memory: 64Mi}
    default: {cpu: 200m, memory: 128Mi}
    max: {cpu: "1"}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: small, namespace: quota-demo}
spec:
  hard: {pods: "2", requests.cpu: 500m}
"""


def _pod(name: str, cpu: str | None = None) -> str:
    resources = f", resources: {{requests: {{cpu: {cpu}}}, limits: {{cpu: {cpu}}}}}" if cpu else ""
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: quota-demo}}
spec:
  containers: [{{name: app, image: busybox{resources}}}]
"""


def test_limit_range_defaults_and_quota_enforcement(server):
    kubectl(server, "create", "namespace", "quota-demo")
    kubectl(server, "apply", "-f", "-", input=SETUP)
    kubectl(server, "create", "-f", "-", input=_pod("one"))
    one = json.loads(kubectl(server, "get", "pod", "one", "-n", "quota-demo", "-o", "json").stdout)
    resources = one["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "64Mi"}
    assert resources["limits"] == {"cpu": "200m", "memory": "128Mi"}
    assert "LimitRanger plugin set" in one["metadata"]["annotations"]["kubernetes.io/limit-ranger"]

    too_big = kubectl(server, "create", "-f", "-", input=_pod("greedy", cpu='"2"'), check=False)
    assert too_big.returncode != 0
    assert "maximum cpu usage per Container is 1, but limit is 2" in too_big.stderr

    kubectl(server, "create", "-f", "-", input=_pod("two"))
    third = kubectl(server, "create", "-f", "-", input=_pod("three"), check=False)
    assert third.returncode != 0
    assert "exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2" in third.stderr
    quota = kubectl(server, "get", "resourcequota", "small", "-n", "quota-demo", "-o", "json").stdout
    used = json.loads(quota)
    assert used["status"]["used"]["pods"] == "2" and used["status"]["used"]["requests.cpu"] == "200m"
