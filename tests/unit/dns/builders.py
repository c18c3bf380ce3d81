"""Builders of the API objects cluster DNS reads (plain dicts, as the informers hand them over)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def make_namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def make_service(
    name: str,
    namespace: str = "default",
    *,
    cluster_ips: list[str] | None = None,
    headless: bool = False,
    external_name: str = "",
    ports: list[Obj] | None = None,
    publish_not_ready: bool = False,
) -> Obj:
    spec: Obj = {"ports": ports or []}
    if external_name:
        spec.update(type="ExternalName", externalName=external_name)
    elif headless:
        spec.update(type="ClusterIP", clusterIP="None", clusterIPs=["None"])
    else:
        ips = cluster_ips or ["10.96.0.20"]
        spec.update(type="ClusterIP", clusterIP=ips[0], clusterIPs=ips)
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def make_endpoint(ip: str, *, hostname: str = "", ready: bool | None = True) -> Obj:
    endpoint: Obj = {"addresses": [ip]}
    if ready is not None:
        endpoint["conditions"] = {"ready": ready}
    if hostname:
        endpoint["hostname"] = hostname
    return endpoint


def make_slice(
    service: str,
    namespace: str = "default",
    *,
    endpoints: list[Obj],
    ports: list[Obj] | None = None,
    name: str = "",
    address_type: str = "IPv4",
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service}-abcde",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports or [],
    }
