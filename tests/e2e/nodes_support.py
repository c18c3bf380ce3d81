"""Shared by the HA and scale e2e tests: running commands from the checkout, kubectl against a
lab's admin kubeconfig, waiting, a web workload with a PodDisruptionBudget and a NodePort Service,
and a traffic loop from this machine that logs every request (a minimal one until the issue-8
harness ``tests/e2e/traffic.py`` exists)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "kubeling/busybox:0.1.0"


def run(*argv: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def kubeling(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(str(BIN / "kubeling"), *args, timeout=timeout, check=check)


@dataclass
class Kubectl:
    kubeconfig: Path
    context: str = ""

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            argv += ["--context", self.context]
        return run(*argv, *args, timeout=timeout, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json").stdout)

    def ready_nodes(self) -> set[str]:
        return {
            n["metadata"]["name"]
            for n in self.json("nodes")["items"]
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
        }


def eventually(check: Callable[[], Any], timeout: float = 180.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = check()
        except AssertionError as exc:
            answer = exc
        if answer and not isinstance(answer, AssertionError):
            return answer
        time.sleep(2)
    raise AssertionError(f"{what or 'condition'} not true after {timeout:.0f}s: {answer!r}")


def web_workload(kubectl: Kubectl, replicas: int = 3, node_port: int = 30080) -> None:
    """A Deployment of busybox httpd (it keeps serving 5 s into termination, as a preStop sleep
    lets endpoints and kube-proxy catch up), a PDB of minAvailable replicas-1, a NodePort Service."""
    items = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "httpd",
                                "image": IMAGE,
                                "command": [
                                    "sh",
                                    "-c",
                                    "echo ok > /tmp/index.html; httpd -f -p 8080 -h /tmp",
                                ],
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/", "port": 8080},
                                    "periodSeconds": 1,
                                },
                                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": replicas - 1, "selector": {"matchLabels": {"app": "web"}}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080, "nodePort": node_port}],
            },
        },
    ]
    done = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(kubectl.kubeconfig), "apply", "-f", "-"],
        input=yaml.safe_dump_all(items),  # a stream: kubectl cannot validate a v1 List here
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    kubectl("rollout", "status", "deployment/web", "--timeout=300s", timeout=320)


def wait_serving(url: str, timeout: float = 120.0) -> None:
    """Until ``url`` answers 200: a new Service's NodePort is open only once kube-proxy has
    programmed it, which may lag the Deployment's rollout by a sync."""

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                return answer.status == 200
        except Exception:
            return False

    eventually(answers, timeout, f"{url} answering")


@dataclass
class Traffic:
    """GET ``url`` every ``interval`` seconds in a thread; every request is logged. Start it once
    ``wait_serving(url)`` returned."""

    url: str
    interval: float = 0.2
    timeout: float = 3.0
    log: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as answer:
                    outcome = f"{answer.status}"
            except Exception as exc:
                outcome = f"error: {exc}"
            self.log.append((time.time(), outcome))
            self._stop.wait(self.interval)

    @property
    def failures(self) -> list[tuple[float, str]]:
        return [entry for entry in self.log if entry[1] != "200"]

    def summary(self) -> str:
        return f"{len(self.log)} requests, {len(self.failures)} failed"
