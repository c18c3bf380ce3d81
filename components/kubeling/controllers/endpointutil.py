"""What a Service's endpoints are made of, shared by the Endpoints and EndpointSlice controllers.

Pure functions over Services and Pods (plain dicts): which pods a Service selects and which of
those count, the pod IP of a family, a Service port resolved against a pod's named container
ports, the hostname a pod publishes, and the pod reference.  No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeling.controllers.podutil import is_terminal, parse_time

Obj = dict[str, Any]

IPV4, IPV6 = "IPv4", "IPv6"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


def selector_of(service: Obj) -> dict[str, str] | None:
    """The Service's selector, or None for a Service whose endpoints are managed by hand."""
    selector = (service.get("spec") or {}).get("selector")
    return dict(selector) if selector else None


def selects(selector: dict[str, str], pod: Obj) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def selected_pods(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """Pods of the Service's namespace its selector matches (``pods`` is that namespace's pods)."""
    selector = selector_of(service)
    if selector is None:
        return []
    return [pod for pod in pods if selects(selector, pod)]


def should_include(pod: Obj, *, include_terminating: bool) -> bool:
    """Upstream's ShouldPodBeInEndpoints: not finished, has an IP, and (maybe) not being deleted."""
    status = pod.get("status") or {}
    if is_terminal(pod):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def family_of(ip: str) -> str:
    return IPV6 if ":" in ip else IPV4


def service_families(service: Obj) -> list[str]:
    """``spec.ipFamilies``; without it, the cluster IP's family (IPv4 for a headless Service)."""
    spec = service.get("spec") or {}
    families = [f for f in spec.get("ipFamilies") or [] if f in (IPV4, IPV6)]
    if families:
        return families
    cluster_ip = spec.get("clusterIP") or ""
    return [family_of(cluster_ip)] if cluster_ip and cluster_ip != "None" else [IPV4]


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [entry.get("ip") for entry in status.get("podIPs") or [] if entry.get("ip")]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def pod_ip_for_family(pod: Obj, family: str) -> str | None:
    return next((ip for ip in pod_ips(pod) if family_of(ip) == family), None)


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The container port a Service port's targetPort means on ``pod`` (None: the pod has no such name)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_ports(pod: Obj, service: Obj) -> list[Obj]:
    """The Service's ports as this pod serves them; ports the pod cannot resolve are left out."""
    ports: list[Obj] = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("name"):
            port["name"] = service_port["name"]
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def port_key(port: Obj) -> tuple[str, int, str, str]:
    return (
        port.get("name") or "",
        int(port.get("port") or 0),
        port.get("protocol") or "",
        port.get("appProtocol") or "",
    )


def hostname_for(pod: Obj, service: Obj) -> str | None:
    """A pod with ``hostname`` whose ``subdomain`` names this Service publishes that hostname."""
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    hostname = spec.get("hostname")
    same_namespace = meta.get("namespace") == (service.get("metadata") or {}).get("namespace")
    if hostname and same_namespace and spec.get("subdomain") == service["metadata"]["name"]:
        return str(hostname)
    return None


def target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def trigger_time(service: Obj, pods: Iterable[Obj]) -> str | None:
    """When the last change that shaped these endpoints happened (service or pod), as RFC 3339.

    Taken from the objects rather than from when we saw them, so a resync writes nothing new.
    """
    stamps: list[tuple[float, str]] = []

    def add(value: str | None) -> None:
        moment = parse_time(value)
        if moment is not None and value:
            stamps.append((moment, value))

    add((service.get("metadata") or {}).get("creationTimestamp"))
    for pod in pods:
        meta = pod.get("metadata") or {}
        add(meta.get("creationTimestamp"))
        add(meta.get("deletionTimestamp"))
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready":
                add(cond.get("lastTransitionTime"))
    return max(stamps)[1] if stamps else None


def services_selecting(pod: Obj, services: Iterable[Obj]) -> list[Obj]:
    return [svc for svc in services if (sel := selector_of(svc)) is not None and selects(sel, pod)]
