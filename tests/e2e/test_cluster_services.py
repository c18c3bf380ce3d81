"""Issue 6's acceptance on two nodes: Services through kube-proxy, names through the cluster
DNS, ``kubectl top`` through metrics-server, an HPA on CPU."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import pytest

from tests.e2e.conftest import OUTSIDE_IP, OUTSIDE_NAME, ServicesLab

# The first test builds the kubeling image when missing or stale (minutes on a cold machine).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

NS = "services-e2e"
BUSYBOX = "kubeling/busybox:0.1.0"
T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60.0, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout:.0f}s; last answer {answer!r}")
        time.sleep(interval)


def apply(lab: ServicesLab, manifest: str) -> None:
    subprocess.run(
        [*_kubectl_argv(lab), "apply", "-f", "-"], input=manifest, text=True, check=True, capture_output=True
    )


def _kubectl_argv(lab: ServicesLab) -> list[str]:
    import sys
    from pathlib import Path

    return [str(Path(sys.executable).with_name("kubectl")), "--kubeconfig", str(lab.lab.kubeconfig)]


def in_client(lab: ServicesLab, *command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return lab.kubectl("-n", NS, "exec", "client", "--", *command, check=check, timeout=30)


WEB = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
          labelSelector: {{matchLabels: {{app: web}}}}}}
      containers:
      - name: web
        image: {BUSYBOX}
        command: [httpd, -f, -p, "8080", -h, /etc]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-headless, namespace: {NS}}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {NS}}}
spec:
  containers: [{{name: client, image: {BUSYBOX}, command: [sleep, "3600"]}}]
  terminationGracePeriodSeconds: 0
"""

STATEFULSET = f"""
apiVersion: v1
kind: Service
metadata: {{name: db, namespace: {NS}}}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: {NS}}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: {BUSYBOX}, command: [httpd, -f, -p, "8080", -h, /etc]}}]
"""


@pytest.fixture(scope="module")
def web(services_lab: ServicesLab) -> ServicesLab:
    apply(services_lab, WEB)
    services_lab.kubectl("-n", NS, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    services_lab.kubectl(
        "-n", NS, "wait", "pod/client", "--for=condition=Ready", "--timeout=120s", timeout=130
    )  # fmt: skip
    return services_lab


def _web_pods(lab: ServicesLab) -> dict[str, dict]:
    pods = lab.get("pods", "-n", NS, "-l", "app=web")["items"]
    return {p["metadata"]["name"]: p for p in pods}


def test_service_name_reaches_pods_on_both_nodes(web: ServicesLab) -> None:
    pods = _web_pods(web)
    assert len({p["spec"]["nodeName"] for p in pods.values()}) == 2, "web pods should spread over both nodes"
    seen: set[str] = set()
    for _ in range(30):
        answer = in_client(web, "wget", "-qO-", f"http://web.{NS}.svc.cluster.local/hostname", check=True)
        seen.add(answer.stdout.strip())
        if seen == set(pods):
            break
    assert seen == set(pods), f"answers came from {seen}, pods are {set(pods)}"
    # The short name resolves through the pod's search path.
    assert in_client(web, "wget", "-qO-", "http://web/hostname", check=True).stdout.strip() in pods


def test_headless_service_resolves_to_pod_ips(web: ServicesLab) -> None:
    ips = {p["status"]["podIP"] for p in _web_pods(web).values()}
    answer = in_client(web, "nslookup", f"web-headless.{NS}.svc.cluster.local", check=True).stdout
    assert ips <= set(answer.split()), answer


def test_statefulset_pod_name_resolves(web: ServicesLab) -> None:
    apply(web, STATEFULSET)
    web.kubectl("-n", NS, "rollout", "status", "statefulset/db", "--timeout=120s", timeout=130)
    pod_ip = web.get("pod", "-n", NS, "db-0")["status"]["podIP"]

    def resolves() -> bool:
        answer = in_client(web, "nslookup", f"db-0.db.{NS}.svc.cluster.local")
        return answer.returncode == 0 and pod_ip in answer.stdout

    eventually(resolves, timeout=30)


def test_nodeport_answers_on_each_node(web: ServicesLab) -> None:
    service = web.get("service", "-n", NS, "web")
    node_port = service["spec"]["ports"][0]["nodePort"]
    pods = set(_web_pods(web))
    for node in web.lab.nodes:
        # From the host, over the lab network: the node's own address, as a client outside would.
        with urllib.request.urlopen(f"http://{node.ip}:{node_port}/hostname", timeout=5) as answer:
            assert answer.read().decode().strip() in pods, node.name


def test_kubernetes_default_and_outside_names_resolve(web: ServicesLab) -> None:
    answer = in_client(web, "nslookup", "kubernetes.default.svc.cluster.local", check=True).stdout
    assert "10.96.0.1" in answer.split()[-1], answer
    # busybox's nslookup asks for the name as given; the resolver's search path (what every
    # program in the pod uses) turns "kubernetes.default" into the Service: ping prints the
    # address it resolved (the ICMP itself goes unanswered: Service IPs forward TCP/UDP only).
    ping = in_client(web, "ping", "-c", "1", "-W", "1", "kubernetes.default")
    assert "PING kubernetes.default (10.96.0.1)" in ping.stdout, ping
    outside = in_client(web, "nslookup", OUTSIDE_NAME.rstrip("."), check=True).stdout
    assert OUTSIDE_IP in outside, outside
    assert any(name.lower() == OUTSIDE_NAME for name in web.upstream_seen), web.upstream_seen


def test_scaled_to_zero_rejects_quickly_then_answers_again(web: ServicesLab) -> None:
    url = f"http://web.{NS}.svc.cluster.local/hostname"
    web.kubectl("-n", NS, "scale", "deployment/web", "--replicas=0")

    def fetch() -> subprocess.CompletedProcess[str]:
        # busybox's own wget -T crashes; its timeout applet bounds a connection that hangs
        # (a backend whose container just died, before its endpoint is withdrawn).
        return in_client(web, "timeout", "5", "wget", "-qO-", url)

    def rejected() -> bool:
        answer = fetch()
        return answer.returncode != 0 and "refused" in (answer.stderr + answer.stdout).lower()

    try:
        # The pods stop serving once their 30 s grace period is over, then the Service rejects.
        eventually(rejected, timeout=90)
        started = time.monotonic()
        assert rejected()
        assert time.monotonic() - started < 5, "a rejected connection should fail fast, not time out"
    finally:
        web.kubectl("-n", NS, "scale", "deployment/web", "--replicas=2")
    web.kubectl("-n", NS, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    eventually(lambda: fetch().returncode == 0, timeout=60)


def test_kubectl_top(web: ServicesLab) -> None:
    def nodes_have_figures() -> str:
        out = web.kubectl("top", "nodes", check=False)
        return out.stdout if out.returncode == 0 and all(n.name in out.stdout for n in web.lab.nodes) else ""

    table = eventually(nodes_have_figures, timeout=120, interval=3)
    rows = [line.split() for line in table.splitlines()[1:]]
    assert all(row[1].endswith("m") and row[3].endswith("Mi") for row in rows), table

    def pods_have_figures() -> str:
        out = web.kubectl("top", "pods", "-A", check=False)
        return out.stdout if out.returncode == 0 and "coredns" in out.stdout and "web-" in out.stdout else ""

    assert eventually(pods_have_figures, timeout=120, interval=3)


BUSY = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: busy, namespace: {NS}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: busy}}}}
  template:
    metadata: {{labels: {{app: busy}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: busy
        image: {BUSYBOX}
        env: [{{name: LOAD, value: "on"}}]
        command: [sh, -c, 'if [ "$LOAD" = on ]; then while :; do :; done; else sleep 3600; fi']
        resources: {{requests: {{cpu: 50m}}, limits: {{cpu: 150m}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: busy, namespace: {NS}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: busy}}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
  behavior:
    scaleDown: {{stabilizationWindowSeconds: 0}}
"""


def test_hpa_scales_up_under_load_and_back_down(web: ServicesLab) -> None:
    apply(web, BUSY)

    def replicas() -> int:
        return int(web.get("deployment", "-n", NS, "busy")["spec"].get("replicas") or 0)

    try:
        eventually(lambda: replicas() > 1, timeout=180, interval=3)
        web.kubectl(
            "-n", NS, "patch", "deployment/busy", "--type=json",
            "-p", json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value",
                               "value": "off"}]),
        )  # fmt: skip
        eventually(lambda: replicas() == 1, timeout=240, interval=3)
    finally:
        web.kubectl("-n", NS, "delete", "hpa/busy", "deployment/busy", "--wait=false", check=False)


def _hostgw_routes(lab, node) -> dict[str, str]:  # type: ignore[no-untyped-def]
    netns = f"--net=/proc/{lab.anchor_pid(node)}/ns/net"
    out = subprocess.run(
        ["nsenter", netns, "ip", "-4", "route", "show", "proto", "77"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[0]: line.split()[2] for line in out.splitlines()}


def test_hostgw_routes_every_other_nodes_pods(services_lab: ServicesLab) -> None:
    lab = services_lab.lab
    cidrs = lab.pod_cidrs()
    for node in lab.nodes:
        wanted = {cidrs[other.name]: other.ip for other in lab.nodes if other is not node}
        eventually(lambda node=node, wanted=wanted: _hostgw_routes(lab, node) == wanted, timeout=30)
