"""Cluster addons (kube-proxy, cluster DNS, metrics-server): rendered from ``templates/addons``
and applied with server-side apply, so applying again changes nothing and an edited template
updates what it owns.

The templates are jinja2 over YAML streams; every addon gets the same values (:class:`AddonValues`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from kubeling.api import errors
from kubeling.api.resources import Registry
from kubeling.client.paths import StaticResource
from kubeling.client.rest import RESTClient

Obj = dict[str, Any]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "addons"
# In the order they are applied: kube-proxy and the pod routes first; the others need them.
DEFAULT_ADDONS = (
    "kube-proxy",
    "hostgw",
    "dns",
    "metrics-server",
    "node-certificate-rotation",
    "ingress",
    "dashboard",
    "logging",
)
FIELD_MANAGER = "kubeling-addons"


class AddonError(ValueError):
    pass


@dataclass
class AddonValues:
    image: str
    apiserver_url: str
    service_cidr: str = "10.96.0.0/12"
    cluster_cidr: str = "10.244.0.0/16"
    cluster_domain: str = "cluster.local"
    dns_replicas: int = 2

    @property
    def dns_ip(self) -> str:
        """The 10th address of the service range, where upstream puts the cluster DNS."""
        return str(ipaddress.ip_network(self.service_cidr, strict=False).network_address + 10)

    def context(self) -> dict[str, Any]:
        return {**asdict(self), "dns_ip": self.dns_ip}


def available() -> list[str]:
    return sorted(p.name.removesuffix(".yaml.j2") for p in TEMPLATES.glob("*.yaml.j2"))


def render(name: str, values: AddonValues, templates: Path = TEMPLATES) -> list[Obj]:
    """The objects of addon ``name``; an unknown name or a value missing from ``values`` is an error."""
    path = templates / f"{name}.yaml.j2"
    if not path.is_file():
        raise AddonError(f"no addon {name!r}; known: {', '.join(available()) or 'none'}")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        text = env.from_string(path.read_text()).render(**values.context())
    except jinja2.UndefinedError as exc:
        raise AddonError(f"addon {name}: {exc}") from exc
    return [doc for doc in yaml.safe_load_all(text) if doc]


_REGISTRY = Registry()


def resource_of(obj: Obj) -> StaticResource:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    resource = _REGISTRY.by_kind(group, version, str(obj.get("kind", "")))
    if resource is None:
        raise AddonError(f"{obj.get('apiVersion')} {obj.get('kind')} is not a resource kubeling serves")
    return StaticResource(resource.group, resource.version, resource.plural, resource.namespaced)


async def apply(client: RESTClient, objects: list[Obj], *, namespace: str = "kube-system") -> list[str]:
    """Server-side apply every object (forcing ownership of its fields); returns ``kind/name``s."""
    applied = []
    for obj in objects:
        resource = resource_of(obj)
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace if resource.namespaced else None
        try:
            await client.patch(
                resource,
                obj,
                name=meta["name"],
                namespace=ns,
                patch_type="apply",
                field_manager=FIELD_MANAGER,
                force=True,
            )
        except errors.StatusError as exc:
            raise AddonError(f"applying {obj.get('kind')} {meta.get('name')}: {exc}") from exc
        applied.append(f"{obj['kind'].lower()}/{meta['name']}")
    return applied


async def apply_addons(client: RESTClient, names: list[str], values: AddonValues) -> list[str]:
    applied = []
    for name in names:
        applied += await apply(client, render(name, values))
    return applied
