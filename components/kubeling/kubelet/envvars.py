"""A container's environment, as upstream's makeEnvironmentVariables builds it.

Precedence, lowest first: Service variables (docker-link style, for the
Services in the pod's namespace when ``enableServiceLinks``, plus the
``kubernetes`` Service of ``default`` always), then ``envFrom`` sources in
order, then ``env`` entries in order.  ``$(VAR)`` in a value expands against
what is defined before it (``$$`` escapes).  A missing non-optional
ConfigMap/Secret or key raises :class:`EnvError`, which the kubelet reports
as the container's ``CreateContainerConfigError``.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubeling.api.validation.common import parse_quantity

Obj = dict[str, Any]
Lookup = Callable[[str, str], Obj | None]  # (namespace, name) -> object or None
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)|\$\$")


class EnvError(Exception):
    reason = "CreateContainerConfigError"


@dataclass
class EnvContext:
    node_name: str = ""
    host_ip: str = ""
    pod_ips: list[str] = field(default_factory=list)
    configmaps: Lookup = lambda _ns, _name: None
    secrets: Lookup = lambda _ns, _name: None
    services: list[Obj] = field(default_factory=list)  # Services of the pod's namespace and default
    node_allocatable: dict[str, str] = field(default_factory=dict)  # defaults for unset limits


def expand(value: str, env: dict[str, str]) -> str:
    """upstream's expansion: ``$(NAME)`` when defined, ``$$`` → ``$``, anything else kept."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR.sub(one, value)


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def service_env(services: list[Obj], namespace: str, enable_links: bool) -> dict[str, str]:
    """``<SVC>_SERVICE_HOST``/``_PORT`` and the docker-link variables for each Service with a cluster IP."""
    out: dict[str, str] = {}
    chosen: dict[str, Obj] = {}
    for svc in services:
        meta = svc.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name", "")
        if ns == namespace and enable_links:
            chosen[name] = svc
        elif ns == "default" and name == "kubernetes" and name not in chosen:
            chosen[name] = svc  # the master service is always there
    for name in sorted(chosen):
        spec = chosen[name].get("spec") or {}
        ip = spec.get("clusterIP") or ""
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = _env_name(name)
        first = ports[0]
        out[f"{prefix}_SERVICE_HOST"] = ip
        out[f"{prefix}_SERVICE_PORT"] = str(first["port"])
        for port in ports:
            if port.get("name"):
                out[f"{prefix}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port["port"])
        proto = (first.get("protocol") or "TCP").lower()
        out[f"{prefix}_PORT"] = f"{proto}://{ip}:{first['port']}"
        for port in ports:
            protocol = port.get("protocol") or "TCP"
            base = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
            out[base] = f"{protocol.lower()}://{ip}:{port['port']}"
            out[f"{base}_PROTO"] = protocol.lower()
            out[f"{base}_PORT"] = str(port["port"])
            out[f"{base}_ADDR"] = ip
    return out


def _format_map(values: dict[str, str]) -> str:
    return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))


def field_value(pod: Obj, path: str, ctx: EnvContext) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    if path == "metadata.name":
        return meta.get("name", "")
    if path == "metadata.namespace":
        return meta.get("namespace", "")
    if path == "metadata.uid":
        return meta.get("uid", "")
    if path in ("metadata.labels", "metadata.annotations"):
        return _format_map(meta.get(path.split(".")[1]) or {})
    if match := re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path):
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    if path == "spec.nodeName":
        return spec.get("nodeName") or ctx.node_name
    if path == "spec.serviceAccountName":
        return spec.get("serviceAccountName", "")
    if path in ("status.hostIP", "status.hostIPs"):
        return ctx.host_ip
    if path == "status.podIP":
        return ctx.pod_ips[0] if ctx.pod_ips else ""
    if path == "status.podIPs":
        return ",".join(ctx.pod_ips)
    raise EnvError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(pod: Obj, container_name: str, ref: Obj, ctx: EnvContext) -> str:
    """resourceFieldRef: requests/limits of cpu, memory, ephemeral-storage over a divisor (cpu rounds up)."""
    name = ref.get("containerName") or container_name
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise EnvError(f"resourceFieldRef: no container {name!r}")
    kind, _, resource = ref.get("resource", "").partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(resource)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(resource)
    if raw is None:
        raw = ctx.node_allocatable.get(resource, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    value = parse_quantity(raw) / (divisor or Decimal(1))
    return str(math.ceil(value))


def _source(pod: Obj, ref: Obj, kind: str, ctx: EnvContext) -> dict[str, str] | None:
    """The data of a ConfigMap/Secret reference (Secrets decoded); None when optional and absent."""
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    lookup = ctx.configmaps if kind == "configmap" else ctx.secrets
    obj = lookup(namespace, ref.get("name", ""))
    if obj is None:
        if ref.get("optional"):
            return None
        raise EnvError(f'{kind} "{ref.get("name", "")}" not found')
    if kind == "configmap":
        return dict(obj.get("data") or {})
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return data


def container_env(pod: Obj, container: Obj, ctx: EnvContext) -> list[tuple[str, str]]:
    """The container's variables in order (name, value)."""
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    env: dict[str, str] = service_env(
        ctx.services, namespace, spec.get("enableServiceLinks", True) is not False
    )
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _source(pod, source["configMapRef"], "configmap", ctx)
        else:
            data = _source(pod, source.get("secretRef") or {}, "secret", ctx)
        for key, value in (data or {}).items():
            env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        source = var.get("valueFrom")
        if not source:
            env[name] = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"].get("fieldPath", ""), ctx)
        elif "resourceFieldRef" in source:
            env[name] = resource_value(pod, container["name"], source["resourceFieldRef"], ctx)
        else:
            kind = "configmap" if "configMapKeyRef" in source else "secret"
            ref = source.get("configMapKeyRef") or source.get("secretKeyRef") or {}
            data = _source(pod, ref, kind, ctx)
            if data is None:
                continue
            if ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                raise EnvError(
                    f"couldn't find key {ref.get('key')} in {kind.capitalize()} {namespace}/{ref.get('name')}"
                )
            env[name] = data[ref["key"]]
    return list(env.items())


def expand_command(values: list[str], env: list[tuple[str, str]]) -> list[str]:
    """command/args with ``$(VAR)`` references expanded against the container's environment."""
    mapping = dict(env)
    return [expand(v, mapping) for v in values]
