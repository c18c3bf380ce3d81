"""Services, EndpointSlices and parsed restore texts for the proxy's unit tests."""

from __future__ import annotations

from typing import Any

from kubeling.proxy.servicemodel import (
    SERVICE_NAME_LABEL,
    Endpoint,
    ServicePort,
    ServicePortName,
    service_ports,
    slice_endpoints,
)

Obj = dict[str, Any]
NODE = "node-a"


def make_service(
    name: str = "svc1",
    *,
    namespace: str = "ns1",
    cluster_ip: str = "172.30.0.41",
    ports: list[Obj] | None = None,
    **spec: Any,
) -> Obj:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "clusterIP": cluster_ip,
            "ports": ports if ports is not None else [{"name": "p80", "port": 80, "protocol": "TCP"}],
            **spec,
        },
    }


def make_endpoint(ip: str, *, node: str = "node-b", **conditions: bool) -> Obj:
    return {"addresses": [ip], "nodeName": node, "conditions": {"ready": True, **conditions}}


def make_slice(
    service: str = "svc1",
    endpoints: list[Obj] | None = None,
    *,
    namespace: str = "ns1",
    ports: list[Obj] | None = None,
    name: str = "",
) -> Obj:
    return {
        "metadata": {
            "namespace": namespace,
            "name": name or f"{service}-abcde",
            "labels": {SERVICE_NAME_LABEL: service},
        },
        "addressType": "IPv4",
        "ports": ports if ports is not None else [{"name": "p80", "port": 80, "protocol": "TCP"}],
        "endpoints": endpoints or [],
    }


def model(
    services: list[Obj], slices: list[Obj], node: str = NODE
) -> tuple[dict[ServicePortName, ServicePort], dict[ServicePortName, list[Endpoint]]]:
    ports = {port.name: port for service in services for port in service_ports(service)}
    by_service: dict[str, list[Obj]] = {}
    for item in slices:
        key = item["metadata"]["namespace"] + "/" + item["metadata"]["labels"][SERVICE_NAME_LABEL]
        by_service.setdefault(key, []).append(item)
    endpoints: dict[ServicePortName, list[Endpoint]] = {}
    for group in by_service.values():
        endpoints.update(slice_endpoints(group, node))
    return ports, endpoints


def parse_restore(text: str) -> dict[str, dict[str, list[str]]]:
    """table -> chain -> its rules (without ``-A CHAIN``), chains declared by ``:CHAIN`` lines included.

    ``-X CHAIN`` lines are kept under the pseudo chain ``"-X"``; ``-I`` lines under ``"-I"``.
    """
    tables: dict[str, dict[str, list[str]]] = {}
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            table = tables.setdefault(line[1:], {})
        elif line.startswith(":"):
            table.setdefault(line[1:].split(" ")[0], [])
        elif line.startswith("-A "):
            _, chain, rest = line.split(" ", 2)
            table.setdefault(chain, []).append(rest)
        elif line.startswith(("-X ", "-I ")):
            table.setdefault(line[:2], []).append(line[3:])
    return tables
