"""Parsers of what the host checks run: ``ss``, ``docker ps``, ``etcdctl``, manifests.

Pure functions over command output, tested with recorded samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_HEALTH_LINE = re.compile(r"^(?P<endpoint>\S+) is (?P<verdict>healthy|unhealthy)\b:?\s*(?P<rest>.*)$")


def listening_ports(ss_output: str) -> set[int]:
    """Local ports of ``ss -Htln`` lines (``LISTEN 0 4096 127.0.0.1:6443 0.0.0.0:*``, ``[::]:10250``)."""
    ports = set()
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        _, _, port = fields[3].rpartition(":")
        if port.isdigit():
            ports.add(int(port))
    return ports


def running_containers(docker_ps_output: str) -> set[tuple[str, str]]:
    """(pod name, container name) of ``docker ps --format '{{.Label pod}} {{.Label container}}'`` lines."""
    running = set()
    for line in docker_ps_output.splitlines():
        fields = line.split()
        if len(fields) == 2:
            running.add((fields[0], fields[1]))
    return running


@dataclass(frozen=True)
class StaticPod:
    name: str
    namespace: str
    containers: tuple[str, ...]


def static_pod(manifest: str) -> StaticPod:
    """Name, namespace and container names of a static pod manifest; ValueError when it is not one."""
    try:
        pod = yaml.safe_load(manifest)
        meta, spec = pod["metadata"], pod["spec"]
        containers = tuple(str(c["name"]) for c in spec["containers"])
        return StaticPod(str(meta["name"]), str(meta.get("namespace") or "default"), containers)
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"not a pod manifest ({type(exc).__name__}: {exc})") from None


def missing_static_containers(pod: StaticPod, running: set[tuple[str, str]], node: str) -> list[str]:
    """Containers of a static pod not running; the mirror pod is ``<name>-<node name>``.

    The node name is the inventory's, which may differ from the kubelet's
    (``--hostname-override``): any running pod ``<name>-*`` also counts.
    """
    pods = {p for p, _ in running if p == f"{pod.name}-{node}" or p.startswith(f"{pod.name}-")}
    return [c for c in pod.containers if not any((p, c) in running for p in pods)]


@dataclass(frozen=True)
class EndpointHealth:
    endpoint: str
    healthy: bool
    message: str


def etcd_health(output: str) -> list[EndpointHealth]:
    """Lines of ``etcdctl endpoint health`` (stdout and stderr together)."""
    results = []
    for line in output.splitlines():
        match = _HEALTH_LINE.match(line.strip())
        if match:
            results.append(
                EndpointHealth(match["endpoint"], match["verdict"] == "healthy", match["rest"].strip())
            )
    return results
