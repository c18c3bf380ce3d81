"""Checks through the API with the admin kubeconfig: nodes, system pods, DNS, Services.

``check_nodes`` and ``check_system_pods`` are pure over listed objects.  The
workload checks start throwaway pods in a namespace of their own
(``kubeling-verify-<random>``, deleted at the end): a busybox httpd behind a
ClusterIP Service, a client pod (preferably on another node) that fetches a
file through the Service's ClusterIP, and a pod that resolves
``kubernetes.default.svc.<domain>`` and expects the ``kubernetes`` Service's
ClusterIP.  The pods retry inside their own shell loop (endpoints and proxy
rules take a moment) and say why in their termination message
(FallbackToLogsOnError) when they give up.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import time
from collections.abc import Sequence
from typing import Any

from kubeling.api.errors import StatusError
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient
from kubeling.verify.report import CLUSTER, CheckResult, failed, passed
from kubeling.verify.targets import Target

Obj = dict[str, Any]

NODES = StaticResource("", "v1", "nodes", namespaced=False)
PODS = StaticResource("", "v1", "pods")
SERVICES = StaticResource("", "v1", "services")
NAMESPACES = StaticResource("", "v1", "namespaces", namespaced=False)

PROBE_LABEL = "app.kubernetes.io/name"
HTTP_PORT = 8080


def _condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), None)


def _internal_ips(node: Obj) -> set[str]:
    return {
        a.get("address", "")
        for a in node.get("status", {}).get("addresses") or []
        if a.get("type") == "InternalIP"
    }


def _is_node_of(node: Obj, target: Target) -> bool:
    return node["metadata"]["name"] == target.node_name or bool(_internal_ips(node) & target.addresses)


def check_nodes(nodes: Sequence[Obj], targets: Sequence[Target]) -> CheckResult:
    """Every inventory host is a Node (by name or InternalIP) whose Ready condition is True."""
    problems = []
    for target in targets:
        node = next((n for n in nodes if _is_node_of(n, target)), None)
        if node is None:
            problems.append(f"{target.name}: no Node registered")
            continue
        ready = _condition(node, "Ready")
        if ready is None or ready.get("status") != "True":
            why = (
                f"{ready.get('reason', '')} {ready.get('message', '')}".strip()
                if ready
                else "no Ready condition"
            )
            problems.append(f"{node['metadata']['name']}: not Ready ({why})")
    if problems:
        return failed(CLUSTER, "nodes-ready", "; ".join(problems))
    return passed(CLUSTER, "nodes-ready", f"{len(targets)} node(s) Ready")


def _pod_problem(pod: Obj) -> str | None:
    status = pod.get("status", {})
    phase = status.get("phase", "Unknown")
    if phase == "Succeeded":
        return None
    if phase != "Running":
        return f"{phase} {status.get('reason', '')}".strip()
    ready = _condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        waiting = [
            c["state"]["waiting"].get("reason", "waiting")
            for c in status.get("containerStatuses") or []
            if "waiting" in c.get("state", {})
        ]
        return "Running, not Ready" + (f" ({', '.join(waiting)})" if waiting else "")
    return None


def check_system_pods(pods: Sequence[Obj]) -> CheckResult:
    if not pods:
        return failed(CLUSTER, "kube-system-pods", "no pods in kube-system")
    problems = [f"{p['metadata']['name']}: {why}" for p in pods if (why := _pod_problem(p))]
    if problems:
        return failed(CLUSTER, "kube-system-pods", "; ".join(problems))
    return passed(CLUSTER, "kube-system-pods", f"{len(pods)} pod(s) Running and Ready")


def _pod(name: str, namespace: str, image: str, command: list[str], **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {PROBE_LABEL: name}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": command,
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ],
            **spec,
        },
    }


def retry_script(attempt: str, *, tries: int, failure: str, show: str = "") -> list[str]:
    """``sh -c``: run ``attempt`` until it succeeds, at most ``tries`` times a second apart;
    then print ``failure`` (and run ``show``, e.g. to print the last answer) and exit 1."""
    loop = f"i=0; while [ $i -lt {tries} ]; do {attempt} && exit 0; i=$((i+1)); sleep 1; done"
    give_up = f"echo {shlex.quote(failure)}" + (f"; {show}" if show else "")
    return ["sh", "-c", f"{loop}; {give_up}; exit 1"]


async def _wait_pod(client: RESTClient, namespace: str, name: str, deadline: float, *, until: str) -> Obj:
    """Poll until the pod is Ready (``until="ready"``) or finished (``"done"``); else TimeoutError."""
    pod: Obj = {}
    while time.monotonic() < deadline:
        pod = await client.get(PODS, namespace=namespace, name=name)
        phase = pod.get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return pod
        ready = _condition(pod, "Ready")
        if until == "ready" and ready is not None and ready.get("status") == "True":
            return pod
        await asyncio.sleep(1.0)
    raise TimeoutError(f"pod {name} still {_describe(pod)}")


def _describe(pod: Obj) -> str:
    status = pod.get("status", {})
    scheduled = _condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") != "True":
        return f"unscheduled: {scheduled.get('message', scheduled.get('reason', ''))}"
    for c in status.get("containerStatuses") or []:
        if "waiting" in c.get("state", {}):
            waiting = c["state"]["waiting"]
            return f"waiting: {waiting.get('reason', '')} {waiting.get('message', '')}".strip()
    return status.get("phase", "Pending")


def _outcome(pod: Obj) -> str:
    """The termination message (the log tail when it failed) of a finished probe pod."""
    for c in pod.get("status", {}).get("containerStatuses") or []:
        terminated = c.get("state", {}).get("terminated")
        if terminated:
            text = (terminated.get("message") or "").strip().splitlines()
            return f"exit {terminated.get('exitCode')}" + (f": {' | '.join(text[-3:])}" if text else "")
    return pod.get("status", {}).get("phase", "")


async def _probe(client: RESTClient, namespace: str, pod: Obj, deadline: float) -> tuple[bool, str]:
    name = pod["metadata"]["name"]
    await client.create(PODS, pod, namespace=namespace)
    done = await _wait_pod(client, namespace, name, deadline, until="done")
    return done["status"].get("phase") == "Succeeded", _outcome(done)


async def check_dns(
    client: RESTClient, namespace: str, *, image: str, domain: str, deadline: float
) -> CheckResult:
    name = f"kubernetes.default.svc.{domain}"
    try:
        kubernetes = await client.get(SERVICES, namespace="default", name="kubernetes")
        ip = kubernetes["spec"]["clusterIP"]
        script = retry_script(
            f"nslookup {name} >/tmp/answer 2>&1 && grep -q 'Address.*{ip}' /tmp/answer",
            tries=20,
            failure=f"{name} did not resolve to {ip}",
            show="cat /tmp/answer",
        )
        ok, said = await _probe(client, namespace, _pod("dns-probe", namespace, image, script), deadline)
    except (StatusError, TimeoutError, KeyError) as exc:
        return failed(CLUSTER, "dns", str(exc))
    return passed(CLUSTER, "dns", f"{name} -> {ip}") if ok else failed(CLUSTER, "dns", said)


async def check_service(client: RESTClient, namespace: str, *, image: str, deadline: float) -> CheckResult:
    server = _pod("web", namespace, image, ["httpd", "-f", "-p", str(HTTP_PORT), "-h", "/etc"])
    server["spec"]["restartPolicy"] = "Always"
    server["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": HTTP_PORT}, "periodSeconds": 1}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {PROBE_LABEL: "web"}, "ports": [{"port": 80, "targetPort": HTTP_PORT}]},
    }
    try:
        await client.create(PODS, server, namespace=namespace)
        created = await client.create(SERVICES, service, namespace=namespace)
        ip = created["spec"]["clusterIP"]
        web = await _wait_pod(client, namespace, "web", deadline, until="ready")
        # Another node than the server's when there is one, so traffic crosses the pod network.
        away = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {PROBE_LABEL: "web"}},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        }
        script = retry_script(
            # busybox's own wget -T crashes (1.35): its timeout applet bounds the fetch instead.
            f"timeout 3 wget -q -O /tmp/page http://{ip}/passwd && grep -q ^root: /tmp/page",
            tries=20,
            failure=f"no answer from the Service web at {ip}:80",
        )
        client_pod = _pod("service-probe", namespace, image, script, affinity=away)
        ok, said = await _probe(client, namespace, client_pod, deadline)
    except (StatusError, TimeoutError, KeyError) as exc:
        return failed(CLUSTER, "service", str(exc))
    where = web["spec"].get("nodeName", "?")
    return (
        passed(CLUSTER, "service", f"{ip}:80 reached the pod on {where}")
        if ok
        else failed(CLUSTER, "service", said)
    )


async def check_workloads(
    client: RESTClient, *, image: str, domain: str, timeout: float
) -> list[CheckResult]:
    """DNS and Service checks in a throwaway namespace, both at once; the namespace is deleted after."""
    namespace = f"kubeling-verify-{secrets.token_hex(3)}"
    deadline = time.monotonic() + timeout
    try:
        await client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
    except StatusError as exc:
        return [
            failed(CLUSTER, check, f"cannot create namespace {namespace}: {exc}")
            for check in ("dns", "service")
        ]
    try:
        results = await asyncio.gather(
            check_dns(client, namespace, image=image, domain=domain, deadline=deadline),
            check_service(client, namespace, image=image, deadline=deadline),
        )
    finally:
        try:
            await client.delete(NAMESPACES, name=namespace, propagation_policy="Background")
        except StatusError:
            pass  # already gone; the API failing now was reported by the checks
    return list(results)
