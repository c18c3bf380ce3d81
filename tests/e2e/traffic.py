"""A workload queried in a loop while a day-2 operation runs (issue 8's acceptance): every request
logged with its time and result, so "no request failed" is checked, not assumed.

What :class:`Traffic` puts in its namespace (default ``traffic``):

- Deployment ``web``: 3 busybox ``httpd`` replicas answering their pod name on
  port 8080, with a readiness probe (new pods get traffic only when they
  answer) and a preStop sleep (an evicted pod keeps serving while its
  endpoint is withdrawn, as upstream's graceful shutdown advice has it);
- PodDisruptionBudget ``web`` with ``minAvailable: 2`` (drains evict one at a time);
- Service ``web`` of type NodePort;
- pod ``client`` (pinned to ``client_node``, tolerating the control-plane taint):
  a shell loop fetching ``http://web.<namespace>.svc.<domain>:80/`` by name
  and printing ``<epoch> <seq> ok|fail <answer>`` per request;
- from this machine, a thread fetching ``http://<node_ip>:<nodePort>/`` in a loop.

``stop()`` ends both loops and returns a :class:`TrafficReport` with every
request (the pod's from its log).  Bounded: one request per ``interval`` per
loop, each with a timeout, and ``stop()`` deletes the namespace.

Use::

    traffic = Traffic(kubeconfig, node_ip="10.251.3.2", client_node="lab-cp-1").start()
    ...  # the operation
    report = traffic.stop()
    assert report.failures == [], report.summary()
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

KUBECTL = str(Path(sys.executable).parent / "kubectl")
REPLICAS = 3
PORT = 8080


@dataclass(frozen=True)
class Request:
    at: float  # epoch seconds
    source: str  # "pod" or "host"
    ok: bool
    detail: str  # the answer (the serving pod's name) or the error


@dataclass
class TrafficReport:
    requests: list[Request] = field(default_factory=list)

    @property
    def failures(self) -> list[Request]:
        return [r for r in self.requests if not r.ok]

    def count(self, source: str) -> int:
        return sum(1 for r in self.requests if r.source == source)

    def summary(self) -> str:
        lines = [
            f"{len(self.requests)} requests (pod {self.count('pod')}, host {self.count('host')}),"
            f" {len(self.failures)} failed"
        ]
        lines += [
            f"  {time.strftime('%H:%M:%S', time.gmtime(r.at))} {r.source} {r.detail}" for r in self.failures
        ]
        return "\n".join(lines[:40])


def _manifests(namespace: str, image: str, client_node: str, domain: str) -> list[dict[str, object]]:
    labels = {"app": "web"}
    serve = f"mkdir -p /www && echo $HOSTNAME > /www/index.html && exec httpd -f -p {PORT} -h /www"
    url = f"http://web.{namespace}.svc.{domain}:80/"
    # busybox's timeout applet bounds each request (wget -T crashes in busybox 1.35).
    loop = (
        "i=0; while true; do i=$((i+1)); t=$(date +%s);"
        f' if r=$(timeout 10 wget -qO- {url} 2>&1); then echo "$t $i ok $r";'
        ' else echo "$t $i fail $(echo $r | tr -s "\\n" " ")"; fi; sleep 0.5; done'
    )
    control_plane = {
        "key": "node-role.kubernetes.io/control-plane",
        "operator": "Exists",
        "effect": "NoSchedule",
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 20,
                        "containers": [
                            {
                                "name": "httpd",
                                "image": image,
                                "command": ["sh", "-c", serve],
                                "ports": [{"containerPort": PORT}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/", "port": PORT},
                                    "periodSeconds": 2,
                                },
                                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "8"]}}},
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"minAvailable": REPLICAS - 1, "selector": {"matchLabels": labels}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"type": "NodePort", "selector": labels, "ports": [{"port": 80, "targetPort": PORT}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client", "namespace": namespace},
            "spec": {
                "nodeName": client_node,
                "tolerations": [control_plane],
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "client", "image": image, "command": ["sh", "-c", loop]}],
            },
        },
    ]


class Traffic:
    def __init__(
        self,
        kubeconfig: Path,
        *,
        node_ip: str,
        client_node: str,
        namespace: str = "traffic",
        image: str = "kubeling/busybox:0.1.0",
        cluster_domain: str = "cluster.local",
        interval: float = 0.5,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.node_ip = node_ip
        self.client_node = client_node
        self.namespace = namespace
        self.image = image
        self.cluster_domain = cluster_domain
        self.interval = interval
        self.started_at = 0.0
        self._host: list[Request] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def start(self, timeout: float = 240) -> Traffic:
        """Apply the workload, wait until it serves from both sides, then start the host loop."""
        documents = _manifests(self.namespace, self.image, self.client_node, self.cluster_domain)
        self.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in documents))
        n = ("-n", self.namespace)
        self.kubectl(
            *n, "rollout", "status", "deployment/web", f"--timeout={int(timeout)}s", timeout=timeout + 30
        )
        self.kubectl(
            *n,
            "wait",
            "--for=condition=Ready",
            "pod/client",
            f"--timeout={int(timeout)}s",
            timeout=timeout + 30,
        )
        service = json.loads(self.kubectl(*n, "get", "service", "web", "-o", "json"))
        self.url = f"http://{self.node_ip}:{service['spec']['ports'][0]['nodePort']}/"
        deadline = time.monotonic() + timeout
        # Both paths answer before the operation starts: a failure later is the operation's.
        while not (self._fetch().ok and any(r.ok for r in self._pod_requests())):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workload does not serve within {timeout:.0f}s (host {self.url})")
            time.sleep(1)
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._loop, name="traffic-host", daemon=True)
        self._thread.start()
        return self

    def _fetch(self) -> Request:
        at = time.time()
        try:
            with urllib.request.urlopen(self.url, timeout=10) as answer:
                return Request(at, "host", True, answer.read().decode(errors="replace").strip())
        except (urllib.error.URLError, OSError) as exc:
            return Request(at, "host", False, str(exc))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._host.append(self._fetch())
            self._stopping.wait(self.interval)

    def _pod_requests(self) -> list[Request]:
        text = self.kubectl("-n", self.namespace, "logs", "client", timeout=60)
        requests = []
        for line in text.splitlines():
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0].isdigit() and parts[2] in ("ok", "fail"):
                requests.append(
                    Request(float(parts[0]), "pod", parts[2] == "ok", parts[3] if len(parts) > 3 else "")
                )
        return requests

    def stop(self, *, delete: bool = True) -> TrafficReport:
        """End both loops; every request since :meth:`start` (the pod's read from its log)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        # The pod's requests from the moment the host loop started (its warm-up is not counted).
        pod = [r for r in self._pod_requests() if r.at >= int(self.started_at)]
        report = TrafficReport(sorted([*pod, *self._host], key=lambda r: r.at))
        if delete:
            self.kubectl("delete", "namespace", self.namespace, "--wait=false")
        return report
